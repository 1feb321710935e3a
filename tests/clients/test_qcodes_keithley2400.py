"""QCoDeS's Keithley_2400 driver (qcodes.instrument_drivers.Keithley) on the simulated 2400;
effects read from the simulated instrument and the world, never from QCoDeS itself."""
from __future__ import annotations

import pytest

from .conftest import unique, world_now

qcodes_keithley = pytest.importorskip("qcodes.instrument_drivers.Keithley")


@pytest.fixture
def k2400(lab):
    inst = qcodes_keithley.Keithley2400(unique("k2400"), lab.resources["source_meter"])
    yield inst
    inst.close()


def sync(inst):
    assert inst.ask("*OPC?").strip() == "1"


def test_constructor_sets_two_elements_and_one_trigger(lab, k2400):
    sim = lab.instruments["source_meter"]
    sync(k2400)
    assert sim.elements == ["VOLT", "CURR"] and sim.trig_count == 1
    assert sim.errors == []


def test_current_mode_reads_the_wire(lab, k2400):
    sim = lab.instruments["source_meter"]
    k2400.mode("CURR")                 # also :SENS:FUNC "VOLT" (the driver's _set_mode_and_sense)
    k2400.compliancev(1.0)
    k2400.write(":SYST:RSEN 1")
    k2400.curr(3e-5)
    k2400.output("on")
    sync(k2400)
    assert sim.output is True
    # the driver's own quirk, not the instrument's: its cache then holds "on", which its
    # read guard compares with 1, so it refuses to read with the output on
    with pytest.raises(RuntimeError, match="output off"):
        k2400.volt()
    k2400.output(1)
    assert sim.source_func == "CURR" and sim.level["CURR"] == pytest.approx(3e-5)
    assert "VOLT" in sim.functions and sim.output and sim.protection["VOLT"] == 1.0
    R = world_now(lab).wire_resistance_ohm()
    assert k2400.volt() == pytest.approx(3e-5 * R + lab.world.wire.offset_V, rel=1e-3)
    assert k2400.resistance() == pytest.approx(R + lab.world.wire.offset_V / 3e-5, rel=2e-3)
    k2400.nplcv(2.0)
    sync(k2400)
    assert sim.nplc == 2.0
    assert sim.errors == []


def test_voltage_mode_and_ranges(lab, k2400):
    sim = lab.instruments["source_meter"]
    k2400.mode("VOLT")
    k2400.compliancei(1e-3)
    k2400.rangev(2.0)                  # set as SOUR:VOLT:RANG, read as SENS:VOLT:RANG?
    k2400.volt(0.1)
    k2400.output(1)
    sync(k2400)
    assert sim.source_func == "VOLT" and sim.source_range["VOLT"] == 2.1
    assert k2400.rangev() == pytest.approx(2.1)   # the sourced function: its source range
    R = world_now(lab).wire_resistance_ohm() + lab.world.wire.lead_ohm     # 2-wire after *RST
    assert k2400.curr() == pytest.approx((0.1 - lab.world.wire.offset_V) / R, rel=2e-3)
    assert sim.errors == []


def test_reset_with_a_colon_and_reading_with_output_off(lab, k2400):
    sim = lab.instruments["source_meter"]
    k2400.output(1)
    k2400.reset()                      # ":*RST" (see docs/simulated_lab.md)
    sync(k2400)
    assert sim.output is False and sim.errors == []
    # its cache still says "on" after reset(); read afresh, its guard then refuses the :READ?
    # that the 2400 would refuse with +803
    assert k2400.output.get() is False
    with pytest.raises(RuntimeError, match="output off"):
        k2400.volt()                   # QCoDeS checks OUTP:STAT? itself first
