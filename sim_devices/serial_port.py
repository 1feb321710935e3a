"""A simulated instrument's RS-232 port: a pseudo-terminal whose slave a VISA client opens.

``os.openpty()`` gives a master (the instrument's end, served by the lab's selector loop) and a
slave (/dev/pts/N, what pyvisa-py opens through pyserial as ``ASRL/dev/pts/N::INSTR``). The
lab keeps its own descriptor of the slave open: without it the master reads EIO between two
clients, and it lets the lab read the slave's termios, i.e. the framing the client set.

A pty moves bytes, not bits: baud rate, parity and stop bits never garble anything. So the
framing the client set is checked against the instrument's own serial settings (from its
manual) and a line sent with the wrong baud rate or stop bits is treated as the real unit
would receive it, as garbage: not understood, not answered, counted (``garbled``). Linux ptys
always carry 8-bit characters without parity (the kernel resets CSIZE and PARENB, and
refuses a change that sets only those), so data bits and parity are reported but cannot be
checked; a client must open a simulated 7O1 port (the Lake Shore 425) as 8N1.

POSIX only: termios and tty are imported inside the functions, so this module (and the lab)
imports on Windows, where ``PTY_AVAILABLE`` is false and serial serving is skipped.
"""
from __future__ import annotations

import os
import sys

#: a pty can be had here (not on Windows)
PTY_AVAILABLE = sys.platform != "win32" and hasattr(os, "openpty")

WHY_NO_PTY = ("serial ports are served through POSIX pseudo-terminals, which this system "
              f"({sys.platform}) does not have")


class SerialUnavailable(RuntimeError):
    """No pseudo-terminal on this system."""


class SerialLink:
    """One instrument's serial port: the pty pair and what was seen on it."""

    def __init__(self, instrument):
        if not PTY_AVAILABLE:
            raise SerialUnavailable(WHY_NO_PTY)
        import tty
        self.instrument = instrument
        #: the instrument's settings per its manual (see SimInstrument.serial_port)
        self.expected = dict(instrument.serial_port)
        self.master, self.slave = os.openpty()
        # raw from the start: a cooked slave echoes the instrument's replies back to it and
        # turns CR into LF before any client has set its own modes
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self.slave)
        #: lines answered, lines lost to the instrument's message rate limit, lines garbled by a
        #: framing mismatch
        self.counters = {"lines": 0, "rate_limited": 0, "garbled": 0}
        #: the framing of the last garbled line, for the message
        self.last_mismatch: dict | None = None

    @property
    def resource(self) -> str:
        return f"ASRL{self.path}::INSTR"

    def client_framing(self) -> dict:
        """What the client set on the slave: baud_rate, data_bits, parity, stop_bits,
        flow_control (as the station file spells them)."""
        import termios
        iflag, _oflag, cflag, _lflag, ispeed, _ospeed, _cc = termios.tcgetattr(self.slave)
        bauds = {getattr(termios, n): int(n[1:]) for n in dir(termios)
                 if n.startswith("B") and n[1:].isdigit()}
        sizes = {termios.CS5: 5, termios.CS6: 6, termios.CS7: 7, termios.CS8: 8}
        if cflag & termios.PARENB:
            parity = "odd" if cflag & termios.PARODD else "even"
        else:
            parity = "none"
        if iflag & termios.IXON:
            flow = "xon_xoff"
        elif cflag & getattr(termios, "CRTSCTS", 0):
            flow = "rts_cts"
        else:
            flow = "none"
        return {"baud_rate": bauds.get(ispeed, ispeed), "data_bits": sizes.get(cflag & termios.CSIZE),
                "parity": parity, "stop_bits": 2 if cflag & termios.CSTOPB else 1,
                "flow_control": flow}

    def mismatch(self) -> dict:
        """The settings (of those a pty keeps) where the client differs from the instrument."""
        client = self.client_framing()
        return {key: (client[key], self.expected[key]) for key in ("baud_rate", "stop_bits")
                if client[key] != self.expected[key]}

    def close(self) -> None:
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass


class MessagePacing:
    """A serial interface that loses messages sent too soon (the Lake Shore 425, manual 6.2.5:
    no communication for 30 ms after a command or after a reply completes, and no more than
    30 communications a second; otherwise "intermittent failures in communication").

    ``accept(now)`` says whether a message arriving at ``now`` (wall-clock seconds: the
    firmware's timing is physical, whatever the lab's simulated speed) is taken; ``done(now)``
    marks the end of its exchange (the command received, or the reply sent)."""

    def __init__(self, min_gap_s: float, max_per_s: int):
        self.min_gap_s = float(min_gap_s)
        self.max_per_s = int(max_per_s)
        self.busy_until = float("-inf")
        self.accepted: list[float] = []   # arrival times within the last second

    def accept(self, now: float) -> bool:
        if now < self.busy_until:
            return False
        self.accepted = [t for t in self.accepted if now - t < 1.0]
        if len(self.accepted) >= self.max_per_s:
            return False
        self.accepted.append(now)
        return True

    def done(self, now: float) -> None:
        self.busy_until = now + self.min_gap_s
