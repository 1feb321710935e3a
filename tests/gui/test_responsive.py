"""The window stays responsive when instruments do not answer; the command line entry."""
import socket
import threading
import time

import pytest
import yaml
from click.testing import CliRunner


@pytest.fixture
def silent_instrument():
    """A TCP server that accepts connections and never answers (a hung instrument)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    conns = []
    stop = threading.Event()

    def accept():
        srv.settimeout(0.1)
        while not stop.is_set():
            try:
                conns.append(srv.accept()[0])
            except OSError:
                pass

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield srv.getsockname()[1]
    stop.set()
    t.join(2)
    for c in conns:
        c.close()
    srv.close()


def test_connect_timeout_does_not_freeze_the_window(qtbot, tmp_path, silent_instrument):
    from loopscope.gui.main_window import MainWindow
    from loopscope.gui.session import StationSession

    station = {"station": "hung", "timeout_s": 1.5, "instruments": {
        "coil_supply": {"role": "field_source", "driver": "kepco_bop",
                        "resource": f"TCPIP0::127.0.0.1::{silent_instrument}::SOCKET",
                        "settings": {"coil_constant_T_per_A": 0.01, "compliance_voltage_V": 20.0},
                        "limits": {"max_field_T": 0.1, "max_current_A": 10, "max_ramp_rate_T_per_min": 1}}}}
    path = tmp_path / "hung.yaml"
    path.write_text(yaml.safe_dump(station))
    session = StationSession(str(path))
    w = MainWindow(session, out_dir=tmp_path)
    qtbot.addWidget(w)
    w.show()
    ticks = []
    t0 = time.monotonic()
    timer_id = w.startTimer(20)
    w.timerEvent = lambda ev: ticks.append(time.monotonic())
    qtbot.waitUntil(lambda: w.station_panel.status.text() == "not connected", timeout=20000)
    w.killTimer(timer_id)
    elapsed = time.monotonic() - t0
    assert elapsed > 1.0  # the connection attempt really waited for the timeout ...
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    assert ticks and max(gaps) < 0.5  # ... while the event loop kept running
    assert "timeout" in w.station_panel.source_note.text().lower() or "Error" in w.station_panel.source_note.text()
    assert not w.start_button.isEnabled()
    w.poller.stop()
    session.close()


def test_cli_help():
    from loopscope.gui.cli import gui

    result = CliRunner().invoke(gui, ["--help"])
    assert result.exit_code == 0
    assert "--station" in result.output and "--screenshot" in result.output and "--speed" in result.output


def test_cli_screenshot(tmp_path, qapp):
    from loopscope.gui.cli import gui

    out = tmp_path / "window.png"
    result = CliRunner().invoke(gui, ["--screenshot", str(out), "--speed", "2000"])
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 20000


def test_a_missing_x11_library_is_named_with_its_package(monkeypatch):
    from loopscope.gui.cli import missing_display_libraries

    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    message = missing_display_libraries("linux", find=lambda lib: None)
    assert "libxcb-cursor0" in message and "apt-get install libxcb-cursor0" in message
    assert missing_display_libraries("linux", find=lambda lib: "/usr/lib/libxcb-cursor.so.0") == ""
    assert missing_display_libraries("win32", find=lambda lib: None) == ""
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert missing_display_libraries("linux", find=lambda lib: None) == ""


def test_the_session_is_no_longer_connecting_when_it_says_connected(qtbot):
    """The window enables Start when `connected` arrives; the worker thread may still be
    returning then, so `connecting` must already be False (it once read Thread.is_alive(),
    which left Start disabled after a run on a busy machine)."""
    from PyQt6.QtCore import Qt

    from loopscope.gui.session import StationSession
    from loopscope.instruments.memory import MemoryStation

    session = StationSession(opener=MemoryStation)
    seen = []
    session.connected.connect(lambda station: seen.append(session.connecting),
                              Qt.ConnectionType.DirectConnection)   # in the worker, at emit time
    session.connect_async()
    qtbot.waitUntil(lambda: bool(seen), timeout=10000)
    assert seen == [False]
    session.close()
