"""Column buffers for live plots: preallocated numpy arrays that grow by doubling.

Stored column-major (one contiguous row per quantity), so that `column(j)` is a contiguous
view handed to pyqtgraph without a copy. Appending is amortised O(1) per point.
"""
from __future__ import annotations

import numpy as np


class ColumnBuffer:
    def __init__(self, n_columns: int, capacity: int = 4096):
        self._data = np.empty((n_columns, max(16, int(capacity))), dtype=np.float64)
        self.n = 0
        # running bounds and finiteness per column, updated from each new block only, so that
        # the plot never scans a million points to find its range
        self.lo = np.full(n_columns, np.inf)
        self.hi = np.full(n_columns, -np.inf)
        self.all_finite = np.ones(n_columns, dtype=bool)

    @property
    def n_columns(self) -> int:
        return self._data.shape[0]

    @property
    def capacity(self) -> int:
        return self._data.shape[1]

    def __len__(self) -> int:
        return self.n

    def _reserve(self, needed: int) -> None:
        cap = self.capacity
        if needed <= cap:
            return
        while cap < needed:
            cap *= 2
        grown = np.empty((self.n_columns, cap), dtype=np.float64)
        grown[:, :self.n] = self._data[:, :self.n]
        self._data = grown

    def extend(self, rows: np.ndarray) -> None:
        """Append a (k, n_columns) block of rows."""
        rows = np.asarray(rows, dtype=np.float64)
        if rows.ndim == 1:
            rows = rows[np.newaxis, :]
        k = rows.shape[0]
        if k == 0:
            return
        self._reserve(self.n + k)
        self._data[:, self.n:self.n + k] = rows.T
        self.n += k
        finite = np.isfinite(rows)
        self.all_finite &= finite.all(axis=0)
        with np.errstate(invalid="ignore"):
            self.lo = np.fmin(self.lo, np.where(finite, rows, np.inf).min(axis=0))
            self.hi = np.fmax(self.hi, np.where(finite, rows, -np.inf).max(axis=0))

    def append_gap(self) -> None:
        """A row of NaN: breaks the drawn line (a new cycle of a loop branch)."""
        self._reserve(self.n + 1)
        self._data[:, self.n] = np.nan
        self.n += 1
        self.all_finite[:] = False

    def column(self, j: int) -> np.ndarray:
        return self._data[j, :self.n]

    def last(self) -> np.ndarray | None:
        return None if self.n == 0 else self._data[:, self.n - 1]

    def clear(self) -> None:
        self.n = 0
        self.lo[:] = np.inf
        self.hi[:] = -np.inf
        self.all_finite[:] = True
