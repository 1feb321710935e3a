"""The lab's TCP servers on loopback, one port per instrument: raw socket, newline-terminated
commands (\\r\\n or \\n), as LAN instruments speak, so drivers use TCPIP0::host::port::SOCKET.
An instrument may instead be served on a serial pseudo-terminal (``add_serial``, see
serial_port.py): ASRL/dev/pts/N::INSTR, with the framing and terminators of its RS-232 port.

All ports are served by one thread with one selector. A thread per connection made every
instrument wait for the interpreter lock whenever a control program asked several of them at
once (which a real lab answers in parallel), and the hand-overs cost more than the answers; one
loop answers each question as soon as it arrives, in order, with no hand-over at all. Nothing an
instrument does blocks: a "slow" fault delays a connection's reply by a timer, not by sleeping,
so the other instruments go on answering meanwhile.
"""
from __future__ import annotations

import heapq
import itertools
import logging
import os
import selectors
import socket
import threading
import time

from .instruments.base import BinaryReply, LanAcknowledge

log = logging.getLogger(__name__)

GARBAGE = "\x15#?~%\x7f@!"


def _terminator(conn, reply: str) -> bytes:
    """A binary block goes out as it is; every other reply ends with the instrument's terminator."""
    return b"" if isinstance(reply, BinaryReply) else conn.term


class _Connection:
    """One client of one instrument: bytes in, replies out, in order."""

    #: the characters that end a received message (CR and NUL around it are stripped). On a
    #: LAN socket either CR or LF does: the 2182A takes CR (its RS-232 default, QCoDeS's
    #: terminator="\r"); a CR LF pair leaves an empty line between, which is skipped
    line_ends = b"\r\n"

    def __init__(self, sock: socket.socket, instrument):
        self.sock = sock
        self.instrument = instrument
        self.term = instrument.reply_termination.encode()
        # an instrument whose LAN messages end otherwise (the Ametek 7270's NUL) says so
        ends = getattr(instrument, "lan_line_ends", None)
        if ends:
            self.line_ends = ends.encode()
        self.inbox = b""
        self.outbox = bytearray()
        self.held_reply = b""      # a "slow" reply, sent at held_until; later lines wait for it
        self.held_until = 0.0
        self.closed = False
        self.pacing = None         # a serial port's MessagePacing
        self.paused = False        # XOFF received: output waits for XON

    @property
    def key(self):
        """What the selector knows this connection by."""
        return self.sock

    def recv(self) -> bytes:
        return self.sock.recv(65536)

    def send(self, data) -> int:
        return self.sock.send(data)


class _SerialConnection(_Connection):
    """The one, permanent "connection" of a serial port: the pty master. There is no accept
    and no hang-up: a client opens and closes the slave as it likes, and the port stays."""

    def __init__(self, link, instrument):
        super().__init__(None, instrument)
        self.link = link
        port = instrument.serial_port
        self.term = port["reply_termination"].encode()
        self.line_ends = port["line_ends"].encode()
        self.xon_xoff = port["flow_control"] == "xon_xoff"
        if instrument.serial_pacing:
            from .serial_port import MessagePacing
            self.pacing = MessagePacing(*instrument.serial_pacing)

    @property
    def key(self):
        return self.link.master

    def recv(self) -> bytes:
        try:
            return os.read(self.link.master, 65536)
        except BlockingIOError:
            raise
        except OSError:     # EIO: no slave open (cannot happen while the lab holds one)
            raise BlockingIOError from None

    def send(self, data) -> int:
        try:
            return os.write(self.link.master, data)
        except BlockingIOError:
            raise
        except OSError:
            return len(data)    # nobody to hear it: a serial line just loses the bytes


class LabServer:
    """Every instrument of the lab on its own port, served by one thread."""

    def __init__(self, host: str = "127.0.0.1", faults=None):
        self.host = host
        self.faults = faults
        self._selector = selectors.DefaultSelector()
        self._listeners: dict[str, socket.socket] = {}
        self._connections: set[_Connection] = set()
        self._serial: dict[str, _SerialConnection] = {}
        self._timers: list[tuple[float, int, _Connection]] = []   # (wall time, tiebreak, held connection)
        self._tiebreak = itertools.count()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._stopping = False
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------- set-up
    def add(self, name: str, instrument, port: int = 0) -> int:
        """Listen for ``instrument`` on ``port`` (0: a free one); returns the port."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((self.host, port))
            listener.listen(16)
            listener.setblocking(False)
        except OSError:
            listener.close()
            raise
        self._listeners[name] = listener
        # a listener's key holds its instrument, a connection's its _Connection
        self._selector.register(listener, selectors.EVENT_READ, instrument)
        return listener.getsockname()[1]

    def add_serial(self, name: str, instrument):
        """Serve ``instrument`` on a new serial pseudo-terminal; returns its SerialLink.
        Raises SerialUnavailable where there are no ptys (Windows)."""
        from .serial_port import SerialLink
        link = SerialLink(instrument)
        conn = _SerialConnection(link, instrument)
        self._serial[name] = conn
        self._selector.register(link.master, selectors.EVENT_READ, conn)
        return link

    def port(self, name: str) -> int | None:
        """The TCP port of an instrument (None for one served on a serial port)."""
        if name in self._serial:
            return None
        return self._listeners[name].getsockname()[1]

    def serial_link(self, name: str):
        return self._serial[name].link

    def resource(self, name: str) -> str:
        if name in self._serial:
            return self._serial[name].link.resource
        return f"TCPIP0::{self.host}::{self.port(name)}::SOCKET"

    @property
    def names(self) -> list[str]:
        return list(self._listeners) + list(self._serial)

    # ----------------------------------------------------------------- life cycle
    def start(self) -> None:
        self._thread = threading.Thread(target=self._serve, name="sim-lab", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving: every client sees its connection closed."""
        self._stopping = True
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        else:
            self._close_all()

    def _close_all(self) -> None:
        for conn in list(self._connections):
            self._drop(conn)
        for listener in self._listeners.values():
            listener.close()
        self._listeners.clear()
        for conn in self._serial.values():
            conn.closed = True
            conn.link.close()
        self._serial.clear()
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()

    # ----------------------------------------------------------------- the loop
    def _serve(self) -> None:
        try:
            while not self._stopping:
                timeout = None
                if self._timers:
                    timeout = max(0.0, self._timers[0][0] - time.monotonic())
                for key, events in self._selector.select(timeout):
                    if key.fileobj is self._wake_r:
                        try:
                            self._wake_r.recv(64)
                        except OSError:
                            pass
                    elif not isinstance(key.data, _Connection):
                        self._accept(key.fileobj, key.data)
                    else:
                        conn = key.data
                        if events & selectors.EVENT_READ and not conn.closed:
                            self._receive(conn)
                        if events & selectors.EVENT_WRITE and not conn.closed:
                            self._flush(conn)
                now = time.monotonic()
                while self._timers and self._timers[0][0] <= now:
                    _, _, conn = heapq.heappop(self._timers)
                    if not conn.closed:
                        self._process(conn)
        except Exception:   # a bug here must not leave clients hanging on a silent port
            log.exception("simulated lab server stopped")
        finally:
            self._close_all()

    def _accept(self, listener: socket.socket, inst) -> None:
        try:
            sock, _ = listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = _Connection(sock, inst)
        self._connections.add(conn)
        self._selector.register(sock, selectors.EVENT_READ, conn)
        welcome = b"".join(line.encode() + conn.term for line in inst.welcome)
        delay = getattr(inst, "welcome_delay_s", 0.0)
        if welcome and delay > 0:
            # greeted after a moment, as held replies are: lines sent meanwhile wait behind it
            conn.held_reply = welcome
            conn.held_until = time.monotonic() + delay
            heapq.heappush(self._timers, (conn.held_until, next(self._tiebreak), conn))
        else:
            conn.outbox += welcome
        self._flush(conn)

    def _receive(self, conn: _Connection) -> None:
        try:
            chunk = conn.recv()
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._drop(conn)
            return
        if isinstance(conn, _SerialConnection):
            chunk = self._serial_chunk(conn, chunk)
        conn.inbox += chunk
        self._process(conn)

    def _serial_chunk(self, conn: _SerialConnection, chunk: bytes) -> bytes:
        """What the instrument's UART makes of bytes the client sent."""
        if conn.xon_xoff and (b"\x11" in chunk or b"\x13" in chunk):
            # the controller's XOFF holds the instrument's output until its XON
            for byte in chunk:
                if byte == 0x13:
                    conn.paused = True
                elif byte == 0x11:
                    conn.paused = False
            chunk = chunk.replace(b"\x11", b"").replace(b"\x13", b"")
        mismatch = conn.link.mismatch()
        if mismatch:
            # sent at another baud rate or stop-bit setting, the bytes arrive as garbage: the
            # real unit understands none of it; count each line so a test can see why
            lines = sum(chunk.count(bytes([c])) for c in conn.line_ends) or 1
            conn.link.counters["garbled"] += lines
            conn.link.last_mismatch = mismatch
            log.warning("%s: serial framing mismatch %s (client, instrument): line lost",
                        conn.instrument.name, mismatch)
            return b""
        return chunk

    @staticmethod
    def _split_line(conn: _Connection):
        """The first complete message in the inbox and the rest, or None."""
        ends = [i for i in (conn.inbox.find(bytes([c])) for c in conn.line_ends) if i >= 0]
        if not ends:
            return None
        i = min(ends)
        return conn.inbox[:i], conn.inbox[i + 1:]

    def _process(self, conn: _Connection) -> None:
        """Answer the connection's complete lines in order, unless a slow reply holds it."""
        inst = conn.instrument
        if conn.held_reply:
            if conn.held_until > time.monotonic():
                return          # its timer calls again
            conn.outbox += conn.held_reply
            conn.held_reply = b""
        arrived = time.monotonic()
        while not conn.closed and not conn.held_reply:
            split = self._split_line(conn)
            if split is None:
                break
            raw, conn.inbox = split
            line = raw.decode("latin-1").strip("\r\n\x00 ")
            if not line:
                continue
            if conn.pacing is not None:
                if not conn.pacing.accept(arrived):
                    conn.link.counters["rate_limited"] += 1
                    continue
                conn.pacing.done(arrived)
            if isinstance(conn, _SerialConnection):
                conn.link.counters["lines"] += 1
            fault = self.faults.check(inst.name, "?" in line, line) if self.faults else None
            if fault is not None and fault.kind == "drop":
                self._drop(conn)
                return
            refuse = fault.refuses if fault is not None and fault.kind == "refuse" else None
            try:
                reply = inst.handle_line(line, refuse)
            except Exception:     # an instrument bug must not kill the server
                log.exception("%s: error handling %r", inst.name, line)
                inst.push_error(-300, "Device-specific error")
                reply = None
            if isinstance(conn, _SerialConnection) and conn.instrument.serial_port.get("echo"):
                # an RS-232 port that echoes every command line before its reply (the
                # Cryomagnetics 4G): the line as received, then the port's terminator
                conn.outbox += line.encode("latin-1") + conn.term
            if reply is None or (isinstance(reply, LanAcknowledge) and isinstance(conn, _SerialConnection)):
                continue
            if fault is not None:
                if fault.kind == "timeout":
                    continue
                if fault.kind == "garbage":
                    reply = GARBAGE + reply[: len(reply) // 2][::-1]
                elif fault.kind == "slow":
                    # the reply is sent when the delay is over, and the lines after it wait
                    conn.held_reply = reply.encode("latin-1") + _terminator(conn, reply)
                    conn.held_until = time.monotonic() + fault.delay_s
                    heapq.heappush(self._timers, (conn.held_until, next(self._tiebreak), conn))
                    break
            conn.outbox += reply.encode("latin-1") + _terminator(conn, reply)
        self._flush(conn)

    def _flush(self, conn: _Connection) -> None:
        if conn.outbox and not conn.paused:
            try:
                sent = conn.send(conn.outbox)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                self._drop(conn)
                return
            del conn.outbox[:sent]
            if conn.pacing is not None and sent:
                conn.pacing.done(time.monotonic())   # the quiet time counts from the reply's end
        wanted = selectors.EVENT_READ | (selectors.EVENT_WRITE if conn.outbox and not conn.paused else 0)
        if self._selector.get_key(conn.key).events != wanted:
            self._selector.modify(conn.key, wanted, conn)

    def _drop(self, conn: _Connection) -> None:
        if isinstance(conn, _SerialConnection):
            # a serial line cannot be hung up: the instrument's interface resets instead,
            # losing what it held (the "drop" fault on a serial port)
            conn.inbox = b""
            conn.outbox.clear()
            conn.held_reply = b""
            return
        if conn.closed:
            return
        conn.closed = True
        self._connections.discard(conn)
        try:
            self._selector.unregister(conn.sock)
        except (KeyError, ValueError):
            pass
        try:
            conn.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        conn.sock.close()
