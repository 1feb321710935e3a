"""Every role against the simulated lab over real TCP (pyvisa-py), including fault injection."""
from __future__ import annotations

import json
import time

import pytest

from loopscope.instruments.visa_session import InterlockError
from loopscope.instruments.roles import (FieldProbe, FluxReadout, InstrumentError,
                               LimitError, QuenchError, Thermometer,
                               TransientInstrumentError)
from loopscope.instruments.station import load_station

from .conftest import TIMEOUT_S, sim_station_dict


def wait_settled(source, timeout=20.0):
    end = time.monotonic() + timeout
    while not source.is_settled():
        assert time.monotonic() < end, f"{source.name} did not settle: {source.state()}"
        time.sleep(0.01)


# ---------------------------------------------------------------- every role reads
def test_station_roles_and_kinds(station):
    assert station.name == "simulated-lab"
    assert station.default_field_source == "coil_supply"
    assert set(station.of_kind("field_source")) == {"coil_supply", "magnet_supply"}
    assert set(station.of_kind("lockin")) == {"lockin", "lockin_sr860"}
    assert isinstance(station.get("gaussmeter"), FieldProbe)
    assert isinstance(station.get("squid_controller"), FluxReadout)
    assert isinstance(station.get("temperature_controller"), Thermometer)
    for name, role in station.roles.items():
        assert role.name == name and role.resource.startswith("TCPIP0::127.0.0.1::")
    assert station.limits_for("magnet_supply").max_field_T == 9.0
    assert station.limits_for("temperature_controller") == {"max_temperature_K": 10.0}


def test_every_role_reads_si(station):
    assert abs(station.get("gaussmeter").read_field_T()) < 1e-3
    flux = station.get("squid_controller")
    assert abs(flux.read_flux_phi0()) < 1.0
    assert flux.volts_per_phi0 == pytest.approx(1.0, rel=0.01)
    for name in ("lockin", "lockin_sr860"):
        li = station.get(name)
        x, y = li.read_xy_V()
        assert isinstance(x, float) and isinstance(y, float)
        assert li.read_frequency_Hz() > 0
        assert li.read_time_constant_s() == pytest.approx(0.1)
    assert station.get("temperature_controller").read_temperature_K() == pytest.approx(0.03, rel=0.01)
    for name in ("coil_supply", "magnet_supply"):
        src = station.get(name)
        assert abs(src.read_field_T()) < 1e-3 and abs(src.read_current_A()) < 0.01


def test_snapshot_is_json_and_complete(station):
    snap = json.loads(json.dumps(station.snapshot()))
    assert snap["station"] == "simulated-lab" and snap["time_scale"] == 1000.0
    inst = snap["instruments"]
    assert set(inst) == set(station.roles)
    assert inst["magnet_supply"]["idn"].startswith("AMERICAN MAGNETICS")
    assert inst["magnet_supply"]["limits"]["max_field_T"] == 9.0
    assert inst["squid_controller"]["voltmeter"]["idn"].startswith("KEITHLEY")
    assert "error" not in json.dumps(inst)


# ---------------------------------------------------------------- Kepco BOP coil
def test_kepco_ramp_probe_and_safe_state(station, lab):
    coil, probe = station.get("coil_supply"), station.get("gaussmeter")
    assert coil.state() == "OUTPUT OFF"
    coil.start_ramp(0.05, 6.0)
    assert coil.state() in ("RAMPING", "SETTLING", "HOLDING")
    wait_settled(coil)
    assert coil.state() == "HOLDING"
    assert coil.read_field_T() == pytest.approx(0.05, abs=2e-5)
    # 35 kG range: noise 1e-4 of full scale = 3.5 G rms
    assert probe.read_field_T() == pytest.approx(0.05, abs=2e-3)
    assert lab.world.coil.current_setpoint_A == pytest.approx(0.05 / 0.00827242)
    account = coil.go_to_safe_state()
    assert "to 0 T" in account
    assert abs(coil.read_field_T()) < 2e-5


def test_kepco_software_ramp_steps_at_the_rate(station, lab):
    coil = station.get("coil_supply")
    target_A = 0.06 / 0.00827242
    # 0.06 T at 0.03 T/min: 120 s of lab time, 120 ms of wall time at speed 1000
    coil.start_ramp(0.06, 0.03)
    time.sleep(0.05)
    midway = lab.world.coil.current_setpoint_A
    assert coil.state() == "RAMPING" and not coil.is_settled()
    assert 0.1 * target_A < midway < 0.8 * target_A
    wait_settled(coil)
    assert coil.read_field_T() == pytest.approx(0.06, abs=2e-5)
    coil.start_ramp(0.0, 6.0)
    coil.pause_ramp()
    assert coil.state() in ("PAUSED", "SETTLING", "HOLDING")
    coil.go_to_safe_state()


def test_kepco_limits_refuse_before_sending(station, lab):
    coil = station.get("coil_supply")
    for field, rate in ((0.2, 1.0), (-0.1, 1.0), (0.01, 7.0), (0.01, 0.0), (float("nan"), 1.0)):
        with pytest.raises(LimitError, match="coil_supply"):
            coil.start_ramp(field, rate)
    assert lab.world.coil.output_on is False and lab.world.coil.current_setpoint_A == 0.0


# ---------------------------------------------------------------- AMI 430 magnet
def test_ami_refuses_ramp_with_heater_off_then_full_persistent_cycle(station, lab):
    magnet = station.get("magnet_supply")
    assert magnet.has_persistent_switch and not magnet.switch_heater_is_on()
    with pytest.raises(InterlockError, match="heater is off"):
        magnet.start_ramp(0.1, 0.24)
    assert lab.world.magnet.target_A == 0.0
    assert "heater on" in magnet.enter_driven_mode()
    assert magnet.switch_heater_is_on()
    magnet.start_ramp(0.1, 0.24)
    assert magnet.state() == "RAMPING"
    wait_settled(magnet)
    assert magnet.read_field_T() == pytest.approx(0.1, abs=1e-4)
    assert not magnet.in_persistent_mode()
    assert "persistent" in magnet.enter_persistent_mode()
    assert not magnet.switch_heater_is_on() and magnet.in_persistent_mode()
    assert magnet.read_magnet_current_A() == pytest.approx(1.0, abs=1e-3)
    assert abs(magnet.read_current_A()) < 1e-3          # leads at zero
    # heater on now would quench: supply 0 A, magnet 1 A
    with pytest.raises(InterlockError, match="refusing to switch the persistent-switch heater"):
        magnet.switch_heater_on()
    assert not lab.world.magnet.quenched
    # leave and re-enter persistent mode, as the runner does
    assert "heater on" in magnet.leave_persistent_mode()
    assert magnet.read_current_A() == pytest.approx(1.0, abs=1e-3)
    magnet.enter_persistent_mode()
    # safe state (zero): match leads, heater on, ramp down
    account = magnet.go_to_safe_state()
    assert "to 0 T" in account, account
    assert abs(lab.world.magnet.field_T) < 1e-4 and not lab.world.magnet.quenched


def test_ami_safe_state_hold_keeps_field_persistent(lab):
    st = load_station(sim_station_dict(safe_state="hold"), resources=lab.resources)
    try:
        magnet = st.get("magnet_supply")
        magnet.enter_driven_mode()
        magnet.start_ramp(0.05, 0.24)
        wait_settled(magnet)
        account = magnet.go_to_safe_state()
        assert "held at 0.05 T in persistent mode" in account
        assert not magnet.switch_heater_is_on()
        assert lab.world.magnet.field_T == pytest.approx(0.05, abs=1e-4)
        assert abs(lab.world.magnet.I_s) < 1e-3
    finally:
        st.close()


def test_ami_limits_refuse_before_sending(station, lab):
    magnet = station.get("magnet_supply")
    magnet.enter_driven_mode()
    for field, rate in ((9.5, 0.1), (1.0, 0.3), (1.0, -0.1)):
        with pytest.raises(LimitError, match="magnet_supply"):
            magnet.start_ramp(field, rate)
    assert lab.world.magnet.target_A == 0.0
    assert lab.world.magnet.ramp_rate == pytest.approx(0.02)      # untouched default


def test_ami_heater_waits_for_the_switch(station, lab):
    magnet = station.get("magnet_supply")
    t0 = time.monotonic()
    magnet.switch_heater_on()
    # 20 s warm-up in lab time at speed 1000: at least 20 ms, and the supply is done heating
    assert time.monotonic() - t0 >= 0.02
    assert magnet.state() != "HEATING SWITCH"
    magnet.switch_heater_off()
    assert magnet.state() != "COOLING SWITCH"


def test_ami_quench_raises_and_is_left_alone(station, lab):
    magnet = station.get("magnet_supply")
    magnet.enter_driven_mode()
    lab.inject_fault("magnet_supply", "quench", field_T=0.03)
    magnet.start_ramp(0.1, 0.24)
    with pytest.raises(QuenchError, match="quench"):
        end = time.monotonic() + 10
        while time.monotonic() < end:
            magnet.is_settled()
            time.sleep(0.01)
    with pytest.raises(QuenchError):
        magnet.check_quench()
    assert magnet.state() == "QUENCH"
    account = magnet.go_to_safe_state()
    assert "quenched" in account and "left untouched" in account
    with pytest.raises(QuenchError):
        magnet.start_ramp(0.0, 0.1)
    assert lab.world.magnet.quenched


# ---------------------------------------------------------------- probe, flux, lock-in, thermometer
def test_gaussmeter_overload_names_range(station, lab):
    probe, coil = station.get("gaussmeter"), station.get("coil_supply")
    probe.driver.range = 35                               # 35 G full scale
    coil.start_ramp(0.01, 6.0)                            # 100 G
    wait_settled(coil)
    with pytest.raises(InstrumentError, match="overload.*35 G range") as info:
        probe.read_field_T()
    assert not isinstance(info.value, TransientInstrumentError)
    coil.go_to_safe_state()


def test_flux_readout_reset_and_lock(station):
    flux = station.get("squid_controller")
    assert flux.is_locked()
    flux.reset_lock()
    assert abs(flux.read_flux_phi0()) < 1e-3
    assert flux.read_voltage_V() == pytest.approx(flux.read_flux_phi0() * flux.volts_per_phi0,
                                                  abs=1e-3)
    flux.set_gain(2.0)
    with pytest.raises(LimitError):
        flux.set_gain(1000)


def test_lockin_frequency_limits(station, lab):
    for name in ("lockin", "lockin_sr860"):
        li = station.get(name)
        li.set_frequency_Hz(1999.5)
        assert li.read_frequency_Hz() == pytest.approx(1999.5)
        with pytest.raises(LimitError, match=name):
            li.set_frequency_Hz(2e5)


def test_thermometer_setpoint_limit_and_heater(station, lab):
    tc = station.get("temperature_controller")
    assert tc.max_temperature_K == 10.0
    with pytest.raises(LimitError, match="max_temperature_K"):
        tc.set_setpoint_K(15.0)
    assert lab.world.cryostat.setpoint_K == pytest.approx(0.03)
    # heater on at the base-temperature setpoint first: a warming cryostat makes every
    # simulated query slow (the ring physics is recomputed per sub-step)
    tc.set_heater_range("low")
    assert tc.read_heater_range() == "low"
    with pytest.raises(LimitError):
        tc.set_heater_range("max")
    tc.set_heater_range("off")
    tc.set_setpoint_K(0.5)
    assert tc.read_setpoint_K() == pytest.approx(0.5)


# ---------------------------------------------------------------- faults
READS = {
    "gaussmeter": lambda st: st.get("gaussmeter").read_field_T(),
    "coil_supply": lambda st: st.get("coil_supply").read_current_A(),
    "magnet_supply": lambda st: st.get("magnet_supply").read_field_T(),
    "lockin": lambda st: st.get("lockin").read_xy_V(),
    "lockin_sr860": lambda st: st.get("lockin_sr860").read_frequency_Hz(),
    "temperature_controller": lambda st: st.get("temperature_controller").read_temperature_K(),
    "nanovoltmeter": lambda st: st.get("squid_controller").read_flux_phi0(),
    "squid_controller": lambda st: st.get("squid_controller").is_locked(),
}


@pytest.mark.parametrize("instrument", sorted(READS))
@pytest.mark.parametrize("kind", ["timeout", "garbage", "slow"])
def test_fault_is_transient_and_recovers(station, lab, instrument, kind):
    read = READS[instrument]
    good = read(station)
    params = {"count": 1}
    if kind == "slow":
        params["delay_s"] = 3 * TIMEOUT_S       # wall seconds: the server sleeps
    lab.inject_fault(instrument, kind, **params)
    t0 = time.monotonic()
    with pytest.raises(TransientInstrumentError) as info:
        read(station)
    assert time.monotonic() - t0 < TIMEOUT_S + 0.5
    role_name = "squid_controller" if instrument == "nanovoltmeter" else instrument
    assert role_name in str(info.value) and "TCPIP0::127.0.0.1::" in str(info.value)
    # the next exchange reopens the session: the late or garbled reply is never misread
    again = read(station)
    assert type(again) is type(good)


@pytest.mark.parametrize("instrument", ["gaussmeter", "magnet_supply", "nanovoltmeter"])
def test_drop_then_reconnect(station, lab, instrument):
    read = READS[instrument]
    read(station)
    lab.inject_fault(instrument, "drop", count=1)
    t0 = time.monotonic()
    with pytest.raises(TransientInstrumentError, match="TCPIP0"):
        read(station)
    assert time.monotonic() - t0 < TIMEOUT_S + 0.5
    role = station.get("squid_controller" if instrument == "nanovoltmeter" else instrument)
    role.reconnect()
    read(station)
