"""examples/plans/magnet_persistent_step.yaml on examples/station_sim_mercury_ips.yaml against
the mercury_ips_magnet profile, end to end from the command line; and Ctrl-C in the middle of
it. The end state is read from the Mercury iPS twin itself (its READ replies and the lab's
magnet), never from our driver: persistent with the heater off after the plan, at zero (or
held persistent) after an interrupt, and never a quench (the twin's magnet quenches when the
heater goes on with the output current mismatched)."""
from __future__ import annotations

import signal
import sys
from pathlib import Path

import h5py
import pytest
import yaml
from click.testing import CliRunner

from loopscope.cli import main
from loopscope.daq.paths import PLANS_DIR
from loopscope.sim_devices import SimulatedLab

from .test_interrupts import Cli, run_file

ROOT = Path(__file__).resolve().parents[2]
STATION = ROOT / "examples" / "station_sim_mercury_ips.yaml"
PLAN = PLANS_DIR / "magnet_persistent_step.yaml"
PROFILE = "mercury_ips_magnet"
P = "DEV:GRPZ:PSU"
posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals to a child process")


def station_file(lab, path: Path, speed: float, **top) -> Path:
    data = yaml.safe_load(STATION.read_text())
    data["time_scale"] = speed
    data["timeout_s"] = 1.0
    data.update(top)
    for name, entry in data["instruments"].items():
        entry["resource"] = lab.resources[name]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def twin(lab, signal_name: str) -> str:
    """READ a signal from the Mercury twin itself (not through our driver): its value."""
    reply = lab.instruments["magnet_supply"].handle_line(f"READ:{P}:{signal_name}")
    assert reply.startswith(f"STAT:{P}:{signal_name}:"), reply
    return reply[len(f"STAT:{P}:{signal_name}:"):]


def magnet(lab):
    with lab.world.lock:
        lab.world.advance()
        return lab.world.magnet


def test_persistent_step_runs_and_leaves_the_magnet_persistent(tmp_path):
    speed = 1000.0
    with SimulatedLab(PROFILE, seed=0, speed=speed) as lab:
        station = station_file(lab, tmp_path / "station.yaml", speed)
        out = tmp_path / "run.h5"
        result = CliRunner().invoke(main, ["run", str(PLAN), "--station", str(station),
                                           "--out", str(out), "--quiet"],
                                    catch_exceptions=False)
        assert result.exit_code == 0, result.output
        with h5py.File(out, "r") as f:
            entry = f["entry"]
            assert entry["status"][()].strip() == b"completed"
            data = entry["data"]
            n = data["point_index"].shape[0]
            assert n >= 60 and list(data["point_index"][:]) == list(range(n))
            assert b"mercury_ips" in entry["station"][()]
        # the plan's end: trapped at 1 T (10 A), heater off, leads run down to 0 A
        assert twin(lab, "SIG:SWHT") == "OFF"
        assert twin(lab, "SIG:CURR") == "0.0000A"
        assert twin(lab, "SIG:PCUR") == "10.0000A" and twin(lab, "SIG:PFLD") == "1.0000T"
        assert twin(lab, "ACTN") == "HOLD"
        m = magnet(lab)
        assert m.I_m == pytest.approx(10.0, rel=1e-4) and not m.quenched
        assert abs(lab.world.field_T - 1.0) < 2e-3
        sent = [line for _, line in lab.instruments["magnet_supply"].command_log]
        on, off = f"SET:{P}:SIG:SWHT:ON", f"SET:{P}:SIG:SWHT:OFF"
        assert sent.count(on) == 1 and sent.count(off) == 1
        assert sent.index(on) < sent.index(f"SET:{P}:SIG:CSET:10.0000") < sent.index(off)


def interrupted_run(tmp_path, lab, speed, moment, what, **top):
    station = station_file(lab, tmp_path / "station.yaml", speed, **top)
    out = tmp_path / "run.h5"
    cli = Cli("run", str(PLAN), "--station", str(station), "--out", str(out))
    cli.wait_for(moment, what)
    assert cli.proc.poll() is None, cli.stderr()
    cli.signal(signal.SIGINT)
    code, _, stderr = cli.finish()
    assert "Traceback" not in stderr, stderr
    assert code == 130, stderr[-2000:]
    _, status, reason = run_file(out)
    assert status == "aborted" and "Ctrl-C" in reason, reason
    assert "safe state" in reason and "NOT" not in reason, reason
    return reason


@posix_only
def test_ctrl_c_mid_ramp_ramps_the_magnet_to_zero(tmp_path):
    speed = 200.0
    with SimulatedLab(PROFILE, seed=0, speed=speed) as lab:
        # half way up (5 A of 10), heater on, the magnet driven
        interrupted_run(tmp_path, lab, speed, lambda: magnet(lab).I_s > 5.0, "the magnet past 5 A")
        m = magnet(lab)
        assert m.I_s == 0.0 and abs(m.I_m) < 1e-6 and not m.quenched
        assert twin(lab, "SIG:CURR") == "0.0000A" and twin(lab, "SIG:PCUR") == "0.0000A"
        assert twin(lab, "SIG:FLD") == "0.0000T" and twin(lab, "ACTN") == "HOLD"
        sent = [line for _, line in lab.instruments["magnet_supply"].command_log]
        assert f"SET:{P}:ACTN:RTOZ" in sent


@posix_only
def test_ctrl_c_while_persistent_matches_the_leads_before_the_heater_then_zero(tmp_path):
    speed = 200.0
    with SimulatedLab(PROFILE, seed=0, speed=speed) as lab:
        def persistent_leads_down():
            m = magnet(lab)
            return not m.heater_on and m.I_s == 0.0 and m.I_m > 9.9
        interrupted_run(tmp_path, lab, speed, persistent_leads_down,
                        "persistent at 1 T with the leads at 0 A")
        m = magnet(lab)
        assert m.I_s == 0.0 and abs(m.I_m) < 1e-6 and not m.quenched
        sent = [line for _, line in lab.instruments["magnet_supply"].command_log]
        on, off = f"SET:{P}:SIG:SWHT:ON", f"SET:{P}:SIG:SWHT:OFF"
        # the heater went on again only after the leads were ramped back up to the magnet
        last_on = len(sent) - 1 - sent[::-1].index(on)
        assert f"SET:{P}:SIG:CSET:10.0000" in sent[sent.index(off):last_on]


@posix_only
def test_ctrl_c_with_safe_state_hold_leaves_it_persistent_with_the_heater_off(tmp_path):
    speed = 200.0
    with SimulatedLab(PROFILE, seed=0, speed=speed) as lab:
        reason = interrupted_run(tmp_path, lab, speed, lambda: magnet(lab).I_s > 5.0,
                                 "the magnet past 5 A", safe_state="hold")
        assert "persistent" in reason
        m = magnet(lab)
        assert not m.heater_on and m.I_s == 0.0 and not m.quenched
        assert 5.0 < m.I_m < 10.0                 # held where the ramp was stopped
        assert twin(lab, "SIG:SWHT") == "OFF"
        assert float(twin(lab, "SIG:PCUR").rstrip("A")) == pytest.approx(m.I_m, rel=1e-4)
