"""The station the window drives: a station file, or the simulated lab started in-process.

Connecting (and reconnecting) opens VISA sessions and can wait for timeouts, so it runs in
a worker thread; the result comes back as a Qt signal. During a run the window releases its
sessions and the run's own process opens the station with `opener` (some instruments take
one connection at a time); when the run has ended the window connects again.
"""
from __future__ import annotations

import functools
import threading
from pathlib import Path

from PyQt6.QtCore import QObject, pyqtSignal


class StationSession(QObject):
    connected = pyqtSignal(object)      # the Station
    connect_failed = pyqtSignal(str)
    busy = pyqtSignal(str)

    def __init__(self, station_source=None, *, lab=None, description: str = "", opener=None, parent=None):
        """station_source: a station file path or dict. opener: instead, a picklable callable
        returning a connected station (e.g. instruments.memory.MemoryStation)."""
        super().__init__(parent)
        self.source = station_source
        from loopscope.instruments.station import load_station
        # picklable (a run process calls it to open the station for itself)
        self.opener = opener or functools.partial(load_station, station_source)
        self.lab = lab
        self.description = description
        self.station = None
        self.identities: dict[str, tuple[str, str]] = {}
        self._thread: threading.Thread | None = None
        self._connecting = False   # between connect_async() and its connected/failed signal

    @classmethod
    def simulated(cls, speed: float = 50.0, sample: str = "soft_core", seed: int = 1,
                  config: dict | None = None):
        """Start the simulated lab in its own process on free ports (``config``: more of its
        configuration, e.g. ``{"vector_magnet": {"enabled": True}}``)."""
        from loopscope.daq.demo import simulated_station
        from loopscope.sim_devices.lab_process import LabProcess

        lab = LabProcess({"sample": {"kind": sample}, **(config or {})}, seed=seed, speed=speed).start()
        return cls(simulated_station(lab, speed), lab=lab,
                   description=f"simulated lab (sample {sample}, seed {seed}, speed x{speed:g})")

    @property
    def name(self) -> str:
        if self.station is not None:
            return self.station.name
        if isinstance(self.source, (str, Path)):
            return str(self.source)
        return self.description or "station"

    @property
    def connecting(self) -> bool:
        # a flag cleared before the result is signalled, not the thread's life: the window
        # handles `connected` while the worker may still be returning, and a check of
        # is_alive() there left the Start button disabled for good
        return self._connecting

    def connect_async(self) -> None:
        """Open (or reopen) every instrument in a worker thread."""
        if self.connecting:
            return
        self.busy.emit("connecting ...")
        old, self.station = self.station, None
        self._connecting = True

        def work():
            try:
                if old is not None:
                    old.close()
                station = self.opener()
                self.identities = identities(station)
            except Exception as exc:  # shown to the operator; the window stays usable
                self._connecting = False
                self.connect_failed.emit(f"{type(exc).__name__}: {exc}")
                return
            self.station = station
            self._connecting = False
            self.connected.emit(station)

        self._thread = threading.Thread(target=work, name="station-connect", daemon=True)
        self._thread.start()

    def connect_blocking(self, timeout: float = 60.0):
        self.station = self.opener()
        self.identities = identities(self.station)
        self.connected.emit(self.station)
        return self.station

    def release(self) -> None:
        """Close the window's sessions (a run process takes the instruments over)."""
        if self._thread is not None:
            self._thread.join(10)
        if self.station is not None:
            self.station.close()
            self.station = None

    def close(self) -> None:
        self.release()
        if self.lab is not None:
            self.lab.stop()
            self.lab = None


def identities(station) -> dict[str, tuple[str, str]]:
    """{name: (connection state, *IDN? reply)} from each role's snapshot (does I/O)."""
    out = {}
    for name, role in station.roles.items():
        try:
            out[name] = ("connected", str(role.snapshot().get("idn", "")))
        except Exception as exc:  # one bad instrument must not hide the others
            out[name] = ("error", str(exc))
    return out
