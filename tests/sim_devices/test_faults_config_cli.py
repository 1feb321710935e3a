"""Fault injection over TCP, configuration validation and the CLI."""
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import pyvisa

from loopscope.sim_devices import ConfigError, SimulatedLab, load_config

from .conftest import open_inst

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sim_lab.yaml"


def test_timeout_fault_with_count(lab_factory, rm):
    lab = lab_factory()
    g = open_inst(rm, lab, "gaussmeter", timeout=300)
    lab.inject_fault("gaussmeter", "timeout", count=1)
    with pytest.raises(pyvisa.errors.VisaIOError):
        g.query("RDGFIELD?")
    assert g.query("*IDN?").startswith("LSCI")       # count exhausted: answers again
    g.close()


def test_garbage_fault(lab_factory, rm):
    lab = lab_factory()
    k = open_inst(rm, lab, "coil_supply")
    lab.inject_fault("coil_supply", "garbage", count=1)
    bad = k.query("MEAS:CURR?")
    with pytest.raises(ValueError):
        float(bad)
    float(k.query("MEAS:CURR?"))
    k.close()


def test_drop_fault(lab_factory, rm):
    lab = lab_factory()
    a = open_inst(rm, lab, "nanovoltmeter", timeout=500)
    lab.inject_fault("nanovoltmeter", "drop", count=1)
    with pytest.raises(pyvisa.errors.VisaIOError):
        a.query(":READ?")
    a.close()
    b = open_inst(rm, lab, "nanovoltmeter")        # reconnect works
    float(b.query(":READ?"))
    b.close()


def test_slow_fault_and_clear(lab_factory, rm):
    lab = lab_factory()
    t = open_inst(rm, lab, "temperature_controller", timeout=3000)
    lab.inject_fault("temperature_controller", "slow", delay_s=0.3)
    t0 = time.monotonic()
    t.query("KRDG? A")
    assert time.monotonic() - t0 >= 0.29
    lab.clear_faults()
    t0 = time.monotonic()
    t.query("KRDG? A")
    assert time.monotonic() - t0 < 0.2
    t.close()


def test_slow_reply_holds_its_own_connection_only(lab_factory, rm):
    """One thread serves every port: a slow reply waits on a timer, in order on its connection,
    while other instruments, and other clients of the same instrument, go on answering."""
    lab = lab_factory()
    slow = open_inst(rm, lab, "temperature_controller", timeout=3000)
    other_client = open_inst(rm, lab, "temperature_controller", timeout=3000)
    probe = open_inst(rm, lab, "gaussmeter", timeout=3000)
    lab.inject_fault("temperature_controller", "slow", delay_s=0.5, count=1)
    t0 = time.monotonic()
    slow.write("KRDG? A")
    slow.write("*IDN?")                       # queued behind the slow reply
    time.sleep(0.05)
    float(probe.query("RDGFIELD?"))
    assert other_client.query("*IDN?").startswith("LSCI")
    assert time.monotonic() - t0 < 0.35
    float(slow.read())                        # the temperature first, then the identity
    assert time.monotonic() - t0 >= 0.49
    assert slow.read().startswith("LSCI")
    for r in (slow, other_client, probe):
        r.close()


def test_stopping_the_lab_closes_its_clients(rm):
    lab = SimulatedLab(seed=0).start()
    g = open_inst(rm, lab, "gaussmeter", timeout=500)
    float(g.query("RDGFIELD?"))
    lab.stop()
    assert lab.resources == {}
    with pytest.raises(pyvisa.errors.VisaIOError):
        g.query("RDGFIELD?")
    g.close()


def test_fault_after_s_and_probability_from_config(rm):
    cfg = {"faults": [{"instrument": "squid_controller", "kind": "timeout", "after_s": 100.0},
                      {"instrument": "coil_supply", "kind": "garbage", "probability": 0.5}]}
    # real time (speed 1): the fault's 100 s come only from the clock's jump below; at speed 1000
    # a loaded machine let them pass (0.1 s of wall time) before the first query was answered
    with SimulatedLab(cfg, seed=1, speed=1.0) as lab:
        f = open_inst(rm, lab, "squid_controller", timeout=300)
        assert f.query("LOCK?").strip() == "1"
        lab.clock.advance(200)
        with pytest.raises(pyvisa.errors.VisaIOError):
            f.query("LOCK?")
        k = open_inst(rm, lab, "coil_supply")
        replies = [k.query("CURR?") for _ in range(40)]
        bad = sum(1 for r in replies if not r.strip().lstrip("+-").replace(".", "").replace("E", "")
                  .replace("-", "").replace("+", "").isdigit())
        assert 5 < bad < 35
        f.close()
        k.close()


def test_quench_fault_at_field(lab_factory, rm):
    lab = lab_factory(speed=50)
    lab.inject_fault("magnet_supply", "quench", field_T=0.05)
    a = open_inst(rm, lab, "magnet_supply")
    a.query("PSwitch 1;*OPC?")
    lab.clock.advance(30)
    a.query("CONF:RAMP:RATE:CURR 1,0.04;CONF:CURR:TARG 1;RAMP;*OPC?")
    lab.clock.advance(20)          # 0.8 A = 0.08 T > 0.05 T
    assert a.query("STATE?").strip() == "7"
    assert a.query("QU?").strip() == "1"
    assert "injected" in lab.world.magnet.quench_reason
    a.close()


def test_config_unknown_key_is_named():
    with pytest.raises(ConfigError, match="coil.radius"):
        load_config({"coil": {"radius": 0.1}})
    with pytest.raises(ConfigError, match="sample.kind"):
        load_config({"sample": {"kind": "unobtainium"}})
    with pytest.raises(ConfigError, match="faults\\[0\\].kind"):
        load_config({"faults": [{"instrument": "lockin", "kind": "meltdown"}]})


def test_example_yaml_loads_and_every_sample_kind_builds():
    cfg = load_config(EXAMPLE)
    assert cfg["sample"]["kind"] in cfg["sample"]
    from loopscope.sim_devices.world import World
    for kind in ("rings", "uniform_cylinder", "graded_cylinder", "paramagnet", "soft_core", "sc_loop"):
        w = World({"sample": {"kind": kind}})
        w.clock.advance(1.0) if hasattr(w.clock, "advance") else None
        w.advance()
        assert isinstance(w.squid_flux_phi0(), float)


def test_fixed_base_port_layout():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    base = s.getsockname()[1]
    s.close()
    base = max(base, 20000) if base + 8 < 65535 else 40000
    try:
        lab = SimulatedLab(base_port=base).start()
    except OSError:
        pytest.skip("port range busy")
    try:
        assert lab.ports["coil_supply"] == base
        assert lab.ports["squid_controller"] == base + 7
        assert lab.resources["magnet_supply"] == f"TCPIP0::127.0.0.1::{base + 1}::SOCKET"
    finally:
        lab.stop()


def test_cli_runs_until_interrupt_and_exits_zero(tmp_path):
    code = ("import sys; from sim_devices.cli import sim; "
            "sys.exit(sim.main(['--base-port', '0', '--speed', '10', '--seed', '3'], standalone_mode=True))")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        lines = []
        t0 = time.monotonic()
        while len(lines) < 9 and time.monotonic() - t0 < 20:
            line = p.stdout.readline()
            if not line:
                break
            lines.append(line)
        assert any("squid_controller" in l and "SOCKET" in l for l in lines)
        assert any("AMI Model 430" in l for l in lines)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=10)
        assert p.returncode == 0, err
        assert "stopped" in out
    finally:
        if p.poll() is None:
            p.kill()


def test_command_log_records_every_line_received(lab_factory, rm):
    lab = lab_factory()
    assert all(lines == [] for lines in lab.command_log().values())
    g = open_inst(rm, lab, "gaussmeter")
    assert "425" in g.query("*IDN?")
    g.write("UNIT 4")
    g.query("RDGFIELD?")
    log = lab.command_log()
    assert log["gaussmeter"] == ["*IDN?", "UNIT 4", "RDGFIELD?"]
    assert all(lines == [] for name, lines in log.items() if name != "gaussmeter")
    times = [t for t, _ in lab.instruments["gaussmeter"].command_log]
    assert times == sorted(times)  # simulated time of arrival
    lab.clear_command_log()
    assert lab.command_log()["gaussmeter"] == []
    g.close()


def test_command_log_is_bounded():
    from loopscope.sim_devices.instruments.base import COMMAND_LOG_LENGTH

    lab = SimulatedLab()
    inst = lab.instruments["coil_supply"]
    for i in range(COMMAND_LOG_LENGTH + 5):
        inst.handle_line(f"*OPC {i}")
    lines = lab.command_log()["coil_supply"]
    assert len(lines) == COMMAND_LOG_LENGTH and lines[0] == "*OPC 5" and lines[-1] == f"*OPC {COMMAND_LOG_LENGTH + 4}"


def run_sim(*args):
    return subprocess.run([sys.executable, "-m", "loopscope", "sim", *args], capture_output=True, text=True,
                          timeout=60)


@pytest.mark.parametrize("port", ["70000", "65530", "-1"])
def test_cli_base_port_out_of_range_is_one_line(port):
    r = run_sim("--base-port", port)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [
        f"Error: base port {port}: the 9 instruments take ports base..base+8, so give 1..65527 "
        f"(or 0 for free ports)"]


def test_cli_warns_when_served_to_the_network():
    # 192.0.2.1 (TEST-NET-1) is not an address of this machine: the warning comes first, then
    # the bind fails, so nothing is ever served to a network in this test
    r = run_sim("--host", "192.0.2.1", "--base-port", "0")
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and "Traceback" not in r.stderr and len(lines) == 2, r.stderr
    assert lines[0].startswith("warning: --host 192.0.2.1: the simulated lab is served to the network")
    assert lines[1].startswith("Error: cannot bind the simulated lab's ports on 192.0.2.1")


def test_is_loopback():
    from loopscope.sim_devices.cli import is_loopback

    for host in ("127.0.0.1", "127.1.2.3", "::1", "localhost"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "::", "192.0.2.1", "10.0.0.5"):
        assert not is_loopback(host), host


@pytest.mark.parametrize("content, words", [
    (b"coil:\n  radius_m: 0.05\n  radius_m: 0.06\n", ["line 3", "duplicate key 'radius_m'"]),
    (bytes(range(256)), ["not a text file"]),
    (b"a: [1\n", ["not valid YAML"]),
])
def test_bad_config_file_is_one_line(tmp_path, content, words):
    path = tmp_path / "lab.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    for w in words:
        assert w in str(err.value)
