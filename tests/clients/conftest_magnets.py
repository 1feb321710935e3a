"""Shared fixtures of the client tests for the magnet supplies and the gaussmeter (AMI 430,
Kepco BOP, Lake Shore 425). Imported explicitly by those test files (not a conftest.py: that
name belongs to the other client tests in this folder)."""
from __future__ import annotations

import socket
import time

import pytest

from sim_devices import SimulatedLab

#: simulated seconds per wall second: an AMI switch heats in 20 s and cools in 30 s of simulated
#: time, so 0.2 s and 0.3 s here; a 2 A ramp at 0.04 A/s takes 0.5 s
SPEED = 100.0


@pytest.fixture
def lab():
    lab = SimulatedLab(None, seed=0, speed=SPEED).start()
    yield lab
    lab.stop()


def wait_until(pred, timeout=20.0, interval=0.01):
    """Poll pred() until it holds (True) or timeout seconds pass (False): progress, not sleeps."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if pred():
            return True
        time.sleep(interval)
    return False


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

    def __init__(self, resource: str, terminator: bytes, timeout: float = 2.0):
        self.sock = socket.create_connection(host_port(resource), timeout=timeout)
        self.terminator = terminator
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
        self.sock.sendall(command + b"\n")

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
