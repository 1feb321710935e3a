"""The simulated lab in a process of its own, as a real lab's instruments are outside the
control program: the lab's eight servers then never compete with the operator's window (or
a benchmark) for one Python interpreter lock.

    lab = LabProcess({"sample": {"kind": "soft_core"}}, seed=1, speed=50).start()
    lab.resources   # {instrument: VISA resource}, as SimulatedLab.resources
    lab.stop()

The lab process ends with its parent: it watches the pipe and stops when the other end closes.
"""
from __future__ import annotations

import multiprocessing as mp


def _serve(conn, config, seed: int, speed: float) -> None:
    from loopscope.sim_devices.lab import SimulatedLab

    try:
        lab = SimulatedLab(config, seed=seed, speed=speed).start()
    except Exception as exc:  # reported to the parent, which raises it
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    with lab:
        conn.send(("resources", lab.resources))
        try:
            conn.recv()  # "stop", or EOFError when the parent has gone
        except (EOFError, OSError):
            pass


class LabProcess:
    def __init__(self, config=None, seed: int = 0, speed: float = 1.0, start_timeout_s: float = 60.0):
        self.config, self.seed, self.speed = config, seed, speed
        self.start_timeout_s = start_timeout_s
        self.resources: dict[str, str] = {}
        self._conn = None
        self._process = None

    def start(self) -> "LabProcess":
        ctx = mp.get_context("spawn")  # the caller may have threads (Qt) that fork cannot copy
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(target=_serve, args=(child, self.config, self.seed, self.speed),
                                    name="loopscope-simulated-lab", daemon=True)
        self._process.start()
        child.close()
        if not self._conn.poll(self.start_timeout_s):
            self.stop()
            raise RuntimeError(f"the simulated lab did not start within {self.start_timeout_s:g} s")
        try:
            kind, payload = self._conn.recv()
        except EOFError:
            self.stop()
            raise RuntimeError("the simulated lab's process ended before it started (see its output above)") from None
        if kind == "error":
            self.stop()
            raise RuntimeError(f"the simulated lab failed to start: {payload}")
        self.resources = payload
        return self

    def stop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.send("stop")
            except (OSError, ValueError):
                pass
            self._conn.close()
            self._conn = None
        if self._process is not None:
            self._process.join(10)
            if self._process.is_alive():
                self._process.terminate()
            self._process = None
        self.resources = {}

    def __enter__(self) -> "LabProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
