"""QCoDeS's OxfordMercuryiPS (qcodes.instrument_drivers.oxford) on the simulated Mercury iPS in
the magnet_supply slot, a one-group (GRPZ) supply. Each effect is read from the twin and the
lab's world, never from QCoDeS itself.

What QCoDeS cannot do here: OxfordMercuryiPS's constructor builds GRPX, GRPY and GRPZ workers
without asking READ:SYS:CAT ("TODO" in its source) and reads all three fields, so on a
one-group supply it fails at construction (GRPX answers NOT_FOUND, which its parser cannot
read as a number). Its GRPZ worker (OxfordMercuryWorkerPS) is then driven under a parent that
is QCoDeS's own VisaInstrument with OxfordMercuryiPS's own ``ask`` and ``get_idn``: every
command and reply parse below is QCoDeS's. Its vector (x/y/z, r/theta/phi) ramps and the
magnet-temperature parameters need the other groups and boards and are not exercised."""
from __future__ import annotations

import pytest

from loopscope.sim_devices import SimulatedLab
from loopscope.sim_devices import magnet as mg

from .conftest import SPEED, unique, wait_until, world_now

oxford = pytest.importorskip("qcodes.instrument_drivers.oxford")
from qcodes.instrument import VisaInstrument  # noqa: E402  (after the importorskip)


class ZGroupOnly(VisaInstrument):
    """OxfordMercuryiPS's exchange (its ask, get_idn, LF terminator) with only its GRPZ worker."""

    default_terminator = "\n"
    ask = oxford.OxfordMercuryiPS.ask
    get_idn = oxford.OxfordMercuryiPS.get_idn

    def __init__(self, name, address, **kwargs):
        super().__init__(name, address, **kwargs)
        self.firmware = self.IDN()["firmware"]
        self.add_submodule("GRPZ", oxford.OxfordMercuryWorkerPS(self, "GRPZ", "GRPZ"))


@pytest.fixture
def lab():
    lab = SimulatedLab("mercury_ips_magnet", seed=0, speed=SPEED).start()
    yield lab
    from qcodes.instrument import Instrument
    Instrument.close_all()
    lab.stop()


@pytest.fixture
def z(lab):
    inst = ZGroupOnly(unique("ips"), lab.resources["magnet_supply"])
    yield inst.submodules["GRPZ"]
    inst.close()


def sent(lab) -> list[str]:
    return [line for _, line in lab.instruments["magnet_supply"].command_log]


def test_the_three_axis_constructor_fails_on_a_one_group_supply(lab):
    with pytest.raises(ValueError):
        oxford.OxfordMercuryiPS(unique("ips"), lab.resources["magnet_supply"])
    lines = sent(lab)
    assert lines[0] == "*IDN?" and "READ:DEV:GRPX:PSU:SIG:FLD" in lines
    assert not any(line.startswith("SET:") for line in lines)      # it fails before writing
    twin = lab.instruments["magnet_supply"]
    assert twin.handle_line("READ:DEV:GRPX:PSU:SIG:FLD") == "STAT:DEV:GRPX:NOT_FOUND"


def test_identity_and_every_reading_parse(lab, z):
    idn = z.parent.IDN()
    assert idn["vendor"] == "OXFORD INSTRUMENTS" and idn["model"] == "MERCURY iPS"
    assert idn["firmware"] == "2.5.09.000" and z.psu_string == "PSU"
    assert z.field() == 0.0 and z.field_persistent() == 0.0
    assert z.current() == 0.0 and z.current_persistent() == 0.0
    assert abs(z.voltage()) < 0.01
    assert z.heater_switch() == "OFF" and z.ramp_status() == "HOLD"
    assert z.ATOB() == 10.0
    assert z.field_ramp_rate() == pytest.approx(0.12 / 60)     # the profile's 0.02 A/s
    assert z.current_ramp_rate() == pytest.approx(0.02)
    assert z.field_target() == 0.0 and z.current_target() == 0.0


def test_heater_rate_target_and_a_ramp_to_target_then_to_zero(lab, z):
    z.heater_switch("ON")
    assert world_now(lab).magnet.heater_on
    assert wait_until(lambda: world_now(lab).magnet.state != mg.HEATING, timeout=10)
    z.field_ramp_rate(0.24 / 60)                        # T/s; QCoDeS sends T/min
    assert lab.instruments["magnet_supply"].rate_A_per_s == pytest.approx(0.04)
    z.field_target(0.3)
    assert lab.instruments["magnet_supply"].cset_A == pytest.approx(3.0)
    z.ramp_to_target()
    assert wait_until(lambda: world_now(lab).magnet.state == mg.HOLDING, timeout=30)
    m = world_now(lab).magnet
    assert m.I_s == pytest.approx(3.0) and m.I_m == pytest.approx(3.0) and not m.quenched
    assert z.ramp_status() == "HOLD" and z.field() == pytest.approx(0.3)
    z.ramp_status("TO ZERO")
    assert wait_until(lambda: world_now(lab).magnet.I_s == 0.0, timeout=30)
    assert "SET:DEV:GRPZ:PSU:ACTN:RTOZ" in sent(lab)


def test_a_clamped_output_is_unclamped_before_the_ramp(lab, z):
    z.heater_switch("ON")
    assert wait_until(lambda: world_now(lab).magnet.state != mg.HEATING, timeout=10)
    z.ramp_status("CLAMP")
    assert lab.instruments["magnet_supply"].action == "CLMP"
    with pytest.raises(ValueError, match="clamped"):         # QCoDeS's own refusal
        z.ramp_status("TO SET")
    z.field_target(0.1)
    z.ramp_to_target()                                        # HOLD, then RTOS
    lines = sent(lab)
    hold = lines.index("SET:DEV:GRPZ:PSU:ACTN:HOLD")
    assert hold < lines.index("SET:DEV:GRPZ:PSU:ACTN:RTOS")
    assert wait_until(lambda: world_now(lab).magnet.I_s == pytest.approx(1.0), timeout=30)


def test_an_invalid_set_is_only_logged_by_qcodes(lab, z):
    # the twin refuses a target beyond its 90 A limit; QCoDeS logs the INVALID and goes on
    # (our driver raises on it: tests/instruments/test_mercury_ips.py)
    z.field_target(9.5)
    assert lab.instruments["magnet_supply"].cset_A == 0.0
    assert lab.instruments["magnet_supply"].handle_line(
        "SET:DEV:GRPZ:PSU:SIG:FSET:9.5").endswith(":INVALID")
