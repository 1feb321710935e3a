"""Clients no one here wrote (QCoDeS, qcodes-contrib-drivers, pymeasure) driving the simulated
lab over pyvisa-py TCP: a parameter they cannot read or set is a gap in the simulator.

Effects are checked on the simulated instruments themselves (their state, lab.world), never by
asking the same client back."""
from __future__ import annotations

import itertools
import socket
import sys

import pytest

from loopscope.sim_devices import SimulatedLab
from tests.sim_devices.conftest import wait_until  # one poll-for-progress helper for all tests

__all__ = ["SPEED", "RawLine", "host_port", "unique", "unreadable", "wait_until", "world_now"]

#: simulated seconds per wall second: an AMI switch heats in 20 s and cools in 30 s of simulated
#: time, so 0.2 s and 0.3 s here; a 2 A ramp at 0.04 A/s takes 0.5 s
SPEED = 100.0

_names = itertools.count()


def unique(prefix):
    """A fresh QCoDeS instrument name (QCoDeS refuses two live instruments of one name)."""
    return f"{prefix}_{next(_names)}"


@pytest.fixture
def lab():
    lab = SimulatedLab(None, seed=0, speed=SPEED).start()
    yield lab
    if "qcodes" in sys.modules:         # the QCoDeS instruments a test left open
        from qcodes.instrument import Instrument
        Instrument.close_all()
    lab.stop()


def unreadable(instrument, skip=()):
    """Every gettable parameter of the instrument and its submodules that fails to read:
    {full name: error}. ``skip`` names parameters the client itself cannot read (documented)."""
    failed = {}

    def walk(node):
        for p in node.parameters.values():
            if not p.gettable or p.name in skip or p.full_name in skip:
                continue
            try:
                p.get()
            except Exception as exc:        # noqa: BLE001 - collected and reported
                failed[p.full_name] = f"{type(exc).__name__}: {exc}"
        for sub in node.submodules.values():
            if hasattr(sub, "parameters"):
                walk(sub)

    walk(instrument)
    return failed


def world_now(lab):
    """Bring the simulated world to the present (as any command would) and return it."""
    lab.world.advance()
    return lab.world


def host_port(resource: str) -> tuple[str, int]:
    """'TCPIP0::127.0.0.1::50402::SOCKET' -> ('127.0.0.1', 50402)."""
    parts = resource.split("::")
    return parts[1], int(parts[2])


class RawLine:
    """A bare TCP connection, for replaying recorded command/reply pairs byte for byte."""

    def __init__(self, resource: str, terminator: bytes, timeout: float = 2.0, end: bytes = b"\n"):
        self.sock = socket.create_connection(host_port(resource), timeout=timeout)
        self.terminator = terminator
        self.end = end              # what ends a command: LF, or the CR a 2182A takes
        self.buffer = b""

    def read_line(self) -> bytes:
        while self.terminator not in self.buffer:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(self.terminator, 1)
        return line

    def send(self, command: bytes) -> None:
        self.sock.sendall(command + self.end)

    def ask(self, command: bytes) -> bytes:
        self.send(command)
        return self.read_line()

    def answers_nothing(self, command: bytes) -> bool:
        """Send a command and prove it answered nothing: replies come in order on one
        connection, so the next line must be the reply to the *OPC? sent after it."""
        self.send(command)
        return self.ask(b"*OPC?") == b"1"

    def close(self) -> None:
        self.sock.close()
