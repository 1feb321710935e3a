"""The Mercury iTC twin, spoken to in the manual's own lines over pyvisa-py (TCP socket, and the
RS-232 port on a serial pty): the STAT replies and their forms, the invalid replies, the loop
and heater driving the shared first-order cryostat, the setpoint ramp. The expected forms are
the manual's (chapter 10 of the Handbook, 8.3 of the Operator's Manual) and the replies
pymeasure recorded from a unit; the physics is checked on the world itself."""
from __future__ import annotations

import math
import re
import sys

import pytest
import pyvisa

from loopscope.sim_devices import SimulatedLab
from loopscope.sim_devices.config import ConfigError, load_config

from .conftest import wait_until

SPEED = 100.0
T = "DEV:MB1.T1:TEMP"
LOOP = T + ":LOOP"
H = "DEV:MB0.H1:HTR"


@pytest.fixture
def vti(rm):
    lab = SimulatedLab("mercury_itc_vti", seed=0, speed=SPEED).start()
    inst = rm.open_resource(lab.resources["temperature_controller"], read_termination="\n",
                            write_termination="\n", timeout=3000)
    yield inst, lab
    inst.close()
    lab.stop()


def value(reply: str, noun: str) -> str:
    head = f"STAT:{noun}:"
    assert reply.startswith(head), (reply, noun)
    return reply[len(head):]


def number(text: str, unit: str) -> float:
    assert text.endswith(unit), (text, unit)
    return float(text[: len(text) - len(unit)])


def test_identity_and_catalogue(vti):
    inst, _ = vti
    # Operator's Manual 8.3.2: IDN:OXFORD INSTRUMENTS:MERCURY dd:ss:ff
    assert re.fullmatch(r"IDN:OXFORD INSTRUMENTS:MERCURY ITC:\d+:[\d.]+", inst.query("*IDN?"))
    cat = "STAT:SYS:CAT:DEV:MB0.H1:HTR:DEV:MB1.T1:TEMP"
    assert inst.query("READ:SYS:CAT") == cat
    assert inst.query("READ:SYS:CAT?") == cat          # the Handbook's examples end with ?
    assert re.fullmatch(r"STAT:SYS:TIME:\d\d:\d\d:\d\d", inst.query("READ:SYS:TIME"))


def test_the_signals_have_the_manual_form_and_read_the_world(vti):
    inst, lab = vti
    t = number(value(inst.query(f"READ:{T}:SIG:TEMP"), f"{T}:SIG:TEMP"), "K")
    assert re.fullmatch(r"STAT:DEV:MB1\.T1:TEMP:SIG:TEMP:\d+\.\d{4}K", inst.query(f"READ:{T}:SIG:TEMP"))
    assert t == pytest.approx(lab.world.cryostat.temperature_K, rel=1e-3)
    assert t == pytest.approx(1.5, rel=1e-3)                        # the VTI's pumped base
    # several signals of one group in one line: key, value, key, value
    temp, res, volt, curr = value(inst.query(f"READ:{T}:SIG:TEMP:RES:VOLT:CURR"), f"{T}:SIG").split(":")[1::2]
    ohm = number(res, "O")
    assert number(volt, "mV") == pytest.approx(ohm * 1e-6 * 1e3, rel=1e-4)   # 1 uA excitation
    assert number(curr, "uA") == pytest.approx(1.0)
    assert 3000 < ohm < 8000                                         # an NTC sensor at 1.5 K
    cold, hot = value(inst.query(f"READ:{T}:CAL:COLD:HOTL"), f"{T}:CAL").split(":")[1::2]
    assert number(cold, "K") < 1.5 < 300 < number(hot, "K")
    assert value(inst.query(f"READ:{T}:TYPE"), f"{T}:TYPE") == "NTC"


# (command, reply): the manual's invalid responses (Handbook 10.3.5, Operator's Manual 8.3.6),
# INVALID right after the term that cannot be interpreted
INVALID = [
    ("read:SYS:CAT", "read:INVALID"),                                # case-sensitive verbs
    ("GET:SYS:CAT", "GET:INVALID"),
    ("*RST", "*RST:INVALID"),                                        # *IDN? is the only common command
    ("READ:SYS:CATALOG", "STAT:SYS:CATALOG:INVALID"),                # keywords are 4 characters
    (f"READ:{T}:SIG:TEMPERATURE", f"STAT:{T}:SIG:TEMPERATURE:INVALID"),
    (f"READ:{T}:SIG", f"STAT:{T}:SIG:INVALID"),
    ("READ:DEV:DB7.T1:TEMP:SIG:TEMP", "STAT:DEV:DB7.T1:NOT_FOUND"),
    ("READ:DEV:MB0.H1:TEMP:SIG:TEMP", "STAT:DEV:MB0.H1:TEMP:N/A"),   # a heater board has no TEMP
    (f"READ:{LOOP}:FSET", f"STAT:{LOOP}:FSET:N/A"),                  # no gas-flow board
    (f"SET:{T}:SIG:TEMP:4.2", f"STAT:SET:{T}:SIG:TEMP:4.2:INVALID"),  # a read-only noun
    (f"SET:{H}:PMAX:5", f"STAT:SET:{H}:PMAX:5:INVALID"),
    (f"SET:{LOOP}:TSET:500", f"STAT:SET:{LOOP}:TSET:500:INVALID"),   # above the calibration
    (f"SET:{LOOP}:TSET:0.5", f"STAT:SET:{LOOP}:TSET:0.5:INVALID"),   # below it
    (f"SET:{LOOP}:TSET:abc", f"STAT:SET:{LOOP}:TSET:abc:INVALID"),
    (f"SET:{LOOP}:TSET:4.2mV", f"STAT:SET:{LOOP}:TSET:4.2mV:INVALID"),
    (f"SET:{LOOP}:ENAB:YES", f"STAT:SET:{LOOP}:ENAB:YES:INVALID"),
    (f"SET:{LOOP}:HSET:101", f"STAT:SET:{LOOP}:HSET:101:INVALID"),
    (f"SET:{LOOP}:HTR:DB3.H1", f"STAT:SET:{LOOP}:HTR:DB3.H1:INVALID"),
    (f"SET:{H}:VLIM:41", f"STAT:SET:{H}:VLIM:41:INVALID"),           # 0.0 to 40.00
    (f"SET:{H}:RES:10", f"STAT:SET:{H}:RES:10:INVALID"),             # 20.00 to 100.00
    (f"SET:{LOOP}:TSET", f"STAT:SET:{LOOP}:TSET:INVALID"),           # no value
]


@pytest.mark.parametrize("command,reply", INVALID)
def test_invalid_replies(vti, command, reply):
    inst, lab = vti
    twin = lab.instruments["temperature_controller"]
    before = (twin.target_K, twin.enabled, twin.manual_fraction, twin.vlim, twin.nominal_ohm,
              twin.loop_heater)
    assert inst.query(command) == reply
    assert (twin.target_K, twin.enabled, twin.manual_fraction, twin.vlim, twin.nominal_ohm,
            twin.loop_heater) == before                              # nothing invalid was taken
    assert inst.query(f"READ:{LOOP}:ENAB") == f"STAT:{LOOP}:ENAB:OFF"   # the line is still in step


def test_sets_echo_the_value_and_each_key(vti):
    inst, lab = vti
    twin = lab.instruments["temperature_controller"]
    assert inst.query(f"SET:{LOOP}:ENAB:OFF") == f"STAT:SET:{LOOP}:ENAB:OFF:VALID"  # pymeasure's recorded pair
    assert inst.query(f"SET:{LOOP}:P:8:I:2:D:0") == f"STAT:SET:{LOOP}:P:8:VALID:I:2:VALID:D:0:VALID"
    assert inst.query(f"READ:{LOOP}:P:I:D") == f"STAT:{LOOP}:P:8.0:I:2.0:D:0.0"
    # the valid keys are set, the invalid ones are not (Handbook 10.3.4.2's note)
    assert inst.query(f"SET:{LOOP}:P:9:D:400") == f"STAT:SET:{LOOP}:P:9:VALID:D:400:INVALID"
    assert twin.pid == [9.0, 2.0, 0.0]
    # a value with its unit (ISIS's IOC sends TSET:%fK and reads the echo back)
    assert inst.query(f"SET:{LOOP}:TSET:4.2000K") == f"STAT:SET:{LOOP}:TSET:4.2000K:VALID"
    assert inst.query(f"READ:{LOOP}:TSET") == f"STAT:{LOOP}:TSET:4.2000K"
    assert inst.query(f"SET:{H}:VLIM:25") == f"STAT:SET:{H}:VLIM:25:VALID"
    assert inst.query(f"READ:{H}:VLIM") == f"STAT:{H}:VLIM:25"
    assert inst.query(f"READ:{H}:PMAX") == f"STAT:{H}:PMAX:12.5000"     # VLIM^2/RES, as recorded
    assert inst.query(f"SET:{LOOP}:HTR:0") == f"STAT:SET:{LOOP}:HTR:0:VALID"
    assert inst.query(f"READ:{LOOP}:HTR") == f"STAT:{LOOP}:HTR:None"
    assert twin.loop_heater is None


def _temperature(lab) -> float:
    lab.world.advance()
    return lab.world.cryostat.temperature_K


def test_the_loop_holds_a_setpoint_on_the_shared_cryostat(vti):
    inst, lab = vti
    cr = load_config("mercury_itc_vti")["cryostat"]
    G, R, base = cr["heater_conductance_W_per_K2"], cr["heater_resistance_ohm"], cr["base_temperature_K"]
    for line in (f"SET:{H}:VLIM:5", f"SET:{LOOP}:TSET:10", f"SET:{LOOP}:ENAB:ON"):
        assert inst.query(line).endswith(":VALID"), line
    assert wait_until(lambda: abs(_temperature(lab) - 10.0) < 0.01, timeout=30)
    volt, curr, powr = value(inst.query(f"READ:{H}:SIG:VOLT:CURR:POWR"), f"{H}:SIG").split(":")[1::2]
    v, i, p = number(volt, "V"), number(curr, "A"), number(powr, "W")
    # what holds 10 K against the heat leak G (T^2 - T_base^2), within the loop's P term
    assert p == pytest.approx(G * (10.0 ** 2 - base ** 2), rel=0.05)
    assert i == pytest.approx(v / R, abs=1e-4) and p == pytest.approx(v * v / 50.0, abs=1e-4)
    hset = float(value(inst.query(f"READ:{LOOP}:HSET"), f"{LOOP}:HSET"))
    assert hset == pytest.approx(100 * v / 5.0, abs=0.05)            # HSET: % of VLIM
    # the loop cannot be overridden at the heater while it drives it
    assert inst.query(f"SET:{H}:SIG:VOLT:1").endswith(":INVALID")
    # VLIM caps what the heater can hold: 1 V into 50 ohm holds sqrt(b^2 + 0.02/G) = 11.6 K
    assert inst.query(f"SET:{LOOP}:TSET:50").endswith(":VALID")
    assert inst.query(f"SET:{H}:VLIM:1").endswith(":VALID")
    held = math.sqrt(base ** 2 + 1.0 / R / G)
    assert wait_until(lambda: abs(_temperature(lab) - held) < 0.02, timeout=30)


def test_manual_output_heats_as_v_squared_over_r_and_zero_cools(vti):
    inst, lab = vti
    cr = load_config("mercury_itc_vti")["cryostat"]
    G, R, base = cr["heater_conductance_W_per_K2"], cr["heater_resistance_ohm"], cr["base_temperature_K"]
    assert inst.query(f"SET:{H}:VLIM:10").endswith(":VALID")
    assert inst.query(f"SET:{LOOP}:HSET:20") == f"STAT:SET:{LOOP}:HSET:20:VALID"
    watts = (0.2 * 10.0) ** 2 / R                                     # 2 V: 80 mW
    assert number(value(inst.query(f"READ:{H}:SIG:POWR"), f"{H}:SIG:POWR"), "W") == pytest.approx(watts, abs=1e-4)
    target = math.sqrt(base ** 2 + watts / G)                         # 23.1 K
    assert wait_until(lambda: abs(_temperature(lab) - target) < 0.05, timeout=30)
    # the heater's power set directly (manual mode): V = sqrt(P RES)
    assert inst.query(f"SET:{H}:SIG:POWR:0.5").endswith(":VALID")
    assert number(value(inst.query(f"READ:{H}:SIG:VOLT"), f"{H}:SIG:VOLT"), "V") == pytest.approx(5.0, abs=1e-3)
    assert inst.query(f"SET:{LOOP}:HSET:0").endswith(":VALID")
    assert inst.query(f"READ:{H}:SIG:POWR") == f"STAT:{H}:SIG:POWR:0.0000W"
    assert wait_until(lambda: _temperature(lab) < base + 0.05, timeout=30)


def test_a_told_resistance_changes_the_power_reading_not_the_heat(vti):
    """The iTC computes POWR from its voltage and the RES it was told; CURR is measured."""
    inst, lab = vti
    for line in (f"SET:{H}:VLIM:10", f"SET:{LOOP}:HSET:50", f"SET:{H}:RES:25"):
        assert inst.query(line).endswith(":VALID")
    volt, curr, powr = value(inst.query(f"READ:{H}:SIG:VOLT:CURR:POWR"), f"{H}:SIG").split(":")[1::2]
    assert number(volt, "V") == pytest.approx(5.0)
    assert number(curr, "A") == pytest.approx(0.1)                   # 5 V into the real 50 ohm
    assert number(powr, "W") == pytest.approx(1.0)                   # 25 / 25: what it believes
    assert lab.world.cryostat.manual_output_pct == pytest.approx(25.0)  # 0.5 W of 2 W


def test_the_setpoint_ramps_at_rset(vti):
    inst, lab = vti
    twin = lab.instruments["temperature_controller"]
    for line in (f"SET:{H}:VLIM:20", f"SET:{LOOP}:ENAB:ON", f"SET:{LOOP}:RSET:30",
                 f"SET:{LOOP}:RENA:ON"):
        assert inst.query(line).endswith(":VALID"), line
    assert inst.query(f"READ:{LOOP}:RSET") == f"STAT:{LOOP}:RSET:30.0000K/m"   # as pymeasure recorded 5.0000K/m
    assert inst.query(f"READ:{LOOP}:RENA") == f"STAT:{LOOP}:RENA:ON"
    t0 = lab.world.t
    assert inst.query(f"SET:{LOOP}:TSET:11.5").endswith(":VALID")
    # TSET reads the working setpoint (PSI's frappy driver reads it so): on its way at 0.5 K/s
    seen = []

    def there():
        sp = number(value(inst.query(f"READ:{LOOP}:TSET"), f"{LOOP}:TSET"), "K")
        seen.append((lab.world.t - t0, sp))
        return sp == 11.5
    assert wait_until(there, timeout=30)
    moving = [(t, sp) for t, sp in seen if 1.5 < sp < 11.5]
    assert moving, seen
    for t, sp in moving:
        assert sp == pytest.approx(1.5 + 0.5 * t, abs=0.5 * 0.2 + 1e-3)   # within 0.2 s of ramp
    assert twin.cryostat.setpoint_K == 11.5
    # RENA OFF steps the setpoint straight to the target
    assert inst.query(f"SET:{LOOP}:TSET:40").endswith(":VALID")
    assert inst.query(f"SET:{LOOP}:RENA:OFF").endswith(":VALID")
    assert inst.query(f"READ:{LOOP}:TSET") == f"STAT:{LOOP}:TSET:40.0000K"


def test_the_mercury_itc_runs_the_first_order_cryostat_only():
    with pytest.raises(ConfigError, match="mercury_itc needs cryostat.kind: first_order"):
        load_config({"models": {"temperature_controller": "mercury_itc"},
                     "cryostat": {"kind": "dilution_refrigerator"}})
    # on the default lab's cryostat it is a valid lab too
    cfg = load_config({"models": {"temperature_controller": "mercury_itc"}})
    assert cfg["cryostat"]["kind"] == "first_order"


@pytest.mark.skipif(sys.platform == "win32", reason="serial pseudo-terminals are POSIX")
def test_the_rs232_port(rm):
    with SimulatedLab("mercury_itc_vti", seed=0, speed=SPEED, serial=["temperature_controller"]) as lab:
        resource = lab.resources["temperature_controller"]
        assert resource.startswith("ASRL")
        inst = rm.open_resource(resource, baud_rate=57600, data_bits=8, stop_bits=pyvisa.constants.StopBits.two,
                                parity=pyvisa.constants.Parity.none, read_termination="\n",
                                write_termination="\n", timeout=3000)
        try:
            assert inst.query("*IDN?").startswith("IDN:OXFORD INSTRUMENTS:MERCURY ITC:")
            assert inst.query(f"SET:{LOOP}:TSET:5").endswith(":VALID")
            assert lab.instruments["temperature_controller"].target_K == 5.0
        finally:
            inst.close()
        framing = lab.serial_framing("temperature_controller")
        assert framing["client"]["baud_rate"] == 57600 and framing["client"]["stop_bits"] == 2
        assert framing["counters"]["garbled"] == 0
        # one stop bit where the port has two: the unit reads garbage and answers nothing
        inst = rm.open_resource(resource, baud_rate=57600, read_termination="\n",
                                write_termination="\n", timeout=300)
        try:
            with pytest.raises(pyvisa.errors.VisaIOError):
                inst.query("*IDN?")
        finally:
            inst.close()
        assert lab.serial_framing("temperature_controller")["counters"]["garbled"] == 1
