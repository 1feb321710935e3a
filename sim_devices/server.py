"""TCP servers on loopback, one port per instrument: raw socket, newline-terminated commands
(\\r\\n or \\n), as LAN instruments speak, so drivers use TCPIP0::host::port::SOCKET."""
from __future__ import annotations

import logging
import socket
import socketserver
import threading
import time

log = logging.getLogger(__name__)

GARBAGE = "\x15#?~%\x7f@!"


class _Handler(socketserver.BaseRequestHandler):
    def handle(self):
        srv: InstrumentServer = self.server.owner
        inst = srv.instrument
        sock: socket.socket = self.request
        sock.settimeout(0.2)
        srv._register(sock)
        term = inst.reply_termination.encode()
        try:
            for line in inst.welcome:
                sock.sendall(line.encode() + term)
            buf = b""
            while not srv.stopping.is_set():
                try:
                    chunk = sock.recv(65536)
                except socket.timeout:
                    continue
                except OSError:
                    return
                if not chunk:
                    return
                buf += chunk
                while b"\n" in buf:
                    raw, buf = buf.split(b"\n", 1)
                    line = raw.decode("latin-1").strip("\r\x00 ")
                    if not line:
                        continue
                    is_query = "?" in line
                    fault = srv.faults.check(inst.name, is_query) if srv.faults else None
                    if fault is not None and fault.kind == "drop":
                        sock.shutdown(socket.SHUT_RDWR)
                        return
                    try:
                        reply = inst.handle_line(line)
                    except Exception as exc:     # an instrument bug must not kill the server
                        log.exception("%s: error handling %r", inst.name, line)
                        inst.errors.append((-300, f"Device-specific error: {exc}"))
                        reply = None
                    if reply is None:
                        continue
                    if fault is not None:
                        if fault.kind == "timeout":
                            continue
                        if fault.kind == "garbage":
                            reply = GARBAGE + reply[: len(reply) // 2][::-1]
                        elif fault.kind == "slow":
                            if srv.stopping.wait(fault.delay_s):
                                return
                    sock.sendall(reply.encode("latin-1") + term)
        finally:
            srv._unregister(sock)


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class InstrumentServer:
    """One instrument on one TCP port; many clients, one thread each."""

    def __init__(self, instrument, host: str = "127.0.0.1", port: int = 0, faults=None):
        self.instrument = instrument
        self.faults = faults
        self.stopping = threading.Event()
        self._server = _TCPServer((host, port), _Handler, bind_and_activate=True)
        self._server.owner = self
        self.host, self.port = self._server.server_address[:2]
        self._thread: threading.Thread | None = None
        self._conns: set = set()
        self._conns_lock = threading.Lock()

    @property
    def resource(self) -> str:
        return f"TCPIP0::{self.host}::{self.port}::SOCKET"

    def _register(self, s):
        with self._conns_lock:
            self._conns.add(s)

    def _unregister(self, s):
        with self._conns_lock:
            self._conns.discard(s)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"sim-{self.instrument.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        with self._conns_lock:
            conns = list(self._conns)
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=2)
        deadline = time.monotonic() + 1.0
        while self._conns and time.monotonic() < deadline:
            time.sleep(0.01)
