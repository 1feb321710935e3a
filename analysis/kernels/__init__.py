"""Numba kernels: pure functions of float64 arrays and numbers, no validation, SI units.

The user-facing API (input checks, broadcasting, units) lives one level up in `analysis`.

numba's on-disk cache (cache=True) checks only the source file of each function, not the
kernels it calls: after an edit of models.py, the cached fitter in lm.py would keep the old
model compiled in. So the cache of this package is dropped whenever any kernel source changes.
"""
import hashlib
import os
from pathlib import Path


def _drop_stale_cache():
    here = Path(__file__).parent
    try:
        digest = hashlib.sha1()
        for src in sorted(here.glob("*.py")):
            digest.update(src.name.encode())
            digest.update(src.read_bytes())
        stamp_value = digest.hexdigest()
        cache = here / "__pycache__"
        stamp = cache / "kernels-source.sha1"
        if stamp.exists() and stamp.read_text() == stamp_value:
            return
        cache.mkdir(exist_ok=True)
        for f in list(cache.glob("*.nbi")) + list(cache.glob("*.nbc")):
            try:
                f.unlink()
            except OSError:
                pass
        tmp = cache / f"kernels-source.sha1.{os.getpid()}"
        tmp.write_text(stamp_value)
        tmp.replace(stamp)
    except OSError:  # read-only install: numba falls back to its own cache dir anyway
        pass


_drop_stale_cache()
