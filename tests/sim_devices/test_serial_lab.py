"""The simulated lab's serial ports: pseudo-terminals opened through pyvisa-py as real labs open
RS-232 and USB-serial instruments, with each instrument's own terminators and framing."""
import sys

import pytest
import pyvisa
from pyvisa import constants

from loopscope.sim_devices import SimulatedLab
from loopscope.sim_devices.config import ConfigError, load_config

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="no pseudo-terminals on Windows")

SERIAL = ["coil_supply", "gaussmeter", "nanovoltmeter", "lockin"]

#: how a client opens each port: the instrument's manual settings (a pty carries 8N1 only,
#: so the LS425's 7O1 is opened as 8N1; see sim_devices/serial_port.py)
OPEN = {
    "lockin": dict(baud_rate=9600, read_termination="\r", write_termination="\r"),
    "nanovoltmeter": dict(baud_rate=9600, read_termination="\r", write_termination="\r"),
    "coil_supply": dict(baud_rate=9600, read_termination="\r\n", write_termination="\n",
                        flow_control=constants.VI_ASRL_FLOW_XON_XOFF),
    "gaussmeter": dict(baud_rate=57600, read_termination="\r\n", write_termination="\r\n"),
}
IDN = {"lockin": "Stanford_Research_Systems,SR830,", "nanovoltmeter": "KEITHLEY INSTRUMENTS INC.,MODEL 2182A,",
       "coil_supply": "KEPCO,BIT 4886 36-12", "gaussmeter": "LSCI,MODEL425,"}


@pytest.fixture(scope="module")
def lab():
    lab = SimulatedLab(None, seed=0, speed=100.0, serial=SERIAL).start()
    yield lab
    lab.stop()


@pytest.fixture(scope="module")
def rm():
    r = pyvisa.ResourceManager("@py")
    yield r
    r.close()


def open_port(rm, lab, name, timeout=1000, **over):
    return rm.open_resource(lab.resources[name], timeout=timeout, **{**OPEN[name], **over})


@pytest.mark.parametrize("name", SERIAL)
def test_each_instrument_answers_on_its_pty_with_its_own_terminator(lab, rm, name):
    assert lab.resources[name].startswith("ASRL/dev/") and lab.resources[name].endswith("::INSTR")
    assert lab.interfaces[name] == "serial"
    res = open_port(rm, lab, name, read_termination=None)
    try:
        res.write("*IDN?")
        raw = b""
        term = lab.instruments[name].serial_port["reply_termination"].encode()
        while not raw.endswith(term):
            raw += res.read_bytes(1)
    finally:
        res.close()
    assert raw.decode().startswith(IDN[name])
    # exactly the serial terminator: the SR830 ends with CR on RS-232 (LF on GPIB and here on TCP)
    assert raw.endswith(term) and raw.count(b"\r") + raw.count(b"\n") == len(term)


def test_the_lab_records_the_framing_the_client_set(lab, rm):
    res = open_port(rm, lab, "coil_supply", stop_bits=constants.StopBits.one)
    try:
        assert res.query("*IDN?").startswith(IDN["coil_supply"])
        seen = lab.serial_framing("coil_supply")
    finally:
        res.close()
    assert seen["client"]["baud_rate"] == 9600
    assert seen["client"]["flow_control"] == "xon_xoff"
    assert seen["instrument"]["flow_control"] == "xon_xoff"


def test_a_wrong_baud_rate_is_not_understood(lab, rm):
    before = lab.serial_framing("lockin")["counters"]["garbled"]
    res = open_port(rm, lab, "lockin", baud_rate=19200, timeout=300)
    try:
        with pytest.raises(pyvisa.errors.VisaIOError):
            res.query("*IDN?")
    finally:
        res.close()
    seen = lab.serial_framing("lockin")
    assert seen["counters"]["garbled"] == before + 1
    assert seen["last_mismatch"] == {"baud_rate": (19200, 9600)}
    res = open_port(rm, lab, "lockin")        # at the unit's own rate it answers again
    try:
        assert res.query("*IDN?").startswith(IDN["lockin"])
    finally:
        res.close()


def test_the_2182a_parses_a_message_on_cr_only(lab, rm):
    # "incoming commands are processed after the <CR> character is received" (2182A manual)
    res = open_port(rm, lab, "nanovoltmeter", write_termination="\n", timeout=300)
    try:
        with pytest.raises(pyvisa.errors.VisaIOError):
            res.query("*IDN?")
        res.write_raw(b"\r")                  # the CR completes the message it was waiting for
        assert res.read().startswith(IDN["nanovoltmeter"])
    finally:
        res.close()


def test_xoff_holds_the_kepco_reply_until_xon(lab, rm):
    res = open_port(rm, lab, "coil_supply", timeout=300)
    try:
        res.write_raw(b"\x13")                # XOFF from the controller
        res.write("*IDN?")
        with pytest.raises(pyvisa.errors.VisaIOError):
            res.read()
        res.write_raw(b"\x11")                # XON: the held reply comes
        assert res.read().startswith(IDN["coil_supply"])
    finally:
        res.close()


def test_the_ls425_loses_messages_sent_too_soon(lab, rm):
    """Manual 6.2.5: 30 ms of quiet after each exchange, at most 30 a second. A burst written
    at once arrives at one instant: the first line is taken, the rest are lost."""
    before = dict(lab.serial_framing("gaussmeter")["counters"])
    burst = 12
    res = open_port(rm, lab, "gaussmeter", timeout=1000)
    try:
        # one write of twelve queries: the lab reads them in one chunk, at one instant
        res.write_raw(b"UNIT?\r\n" * burst)
        assert res.read() == "1"
        res.timeout = 200
        with pytest.raises(pyvisa.errors.VisaIOError):
            res.read()                        # no second answer: those queries were lost
    finally:
        res.close()
    after = lab.serial_framing("gaussmeter")["counters"]
    assert after["lines"] - before["lines"] == 1
    assert after["rate_limited"] - before["rate_limited"] == burst - 1


def test_serial_interfaces_in_the_config_file(tmp_path):
    path = tmp_path / "lab.yaml"
    path.write_text("interfaces:\n  gaussmeter: serial\n  lockin: tcp\n")
    assert load_config(path)["interfaces"] == {"gaussmeter": "serial", "lockin": "tcp"}
    with SimulatedLab(path, speed=100.0) as lab:
        assert lab.interfaces["gaussmeter"] == "serial" and lab.interfaces["lockin"] == "tcp"
        assert lab.resources["gaussmeter"].startswith("ASRL")
        assert lab.resources["lockin"].startswith("TCPIP0::")


@pytest.mark.parametrize("text, words", [
    ("interfaces:\n  gausmeter: serial\n", ["interfaces.gausmeter", "gaussmeter"]),
    ("interfaces:\n  gaussmeter: rs232\n", ["interfaces.gaussmeter", "'rs232'", "tcp, serial"]),
    ("interfaces: serial\n", ["interfaces must be a mapping"]),
])
def test_bad_interfaces_name_the_key(tmp_path, text, words):
    path = tmp_path / "lab.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    for word in words:
        assert word in str(err.value)


def test_an_instrument_without_a_serial_model_is_refused():
    with pytest.raises(ConfigError) as err:
        SimulatedLab(None, serial=["magnet_supply"])
    assert "magnet_supply" in str(err.value) and "AMI Model 430" in str(err.value)


def test_tcp_instruments_keep_their_ports_when_others_go_serial():
    from loopscope.sim_devices.lab import DEFAULT_BASE_PORT
    # a fixed base port may be taken by another program or a socket in TIME_WAIT: try a few
    for base in range(DEFAULT_BASE_PORT + 200, DEFAULT_BASE_PORT + 2000, 97):
        try:
            lab = SimulatedLab(None, speed=100.0, base_port=base, serial=["gaussmeter"]).start()
        except OSError:
            continue
        try:
            assert lab.ports["coil_supply"] == base and lab.ports["nanovoltmeter"] == base + 3
            assert "gaussmeter" not in lab.ports
        finally:
            lab.stop()
        return
    pytest.fail("no free range of 8 ports found for a fixed base port")


def test_sim_cli_refuses_an_unknown_serial_instrument_by_name():
    from click.testing import CliRunner
    from loopscope.sim_devices.cli import sim

    result = CliRunner().invoke(sim, ["--serial", "gaussmeter,gausmeter", "--base-port", "0"])
    assert result.exit_code == 1
    assert "serial: unknown instrument 'gausmeter'" in result.output
