"""The dilution refrigerator, its RuOx thermometer and the Lake Shore 372 twin that reads it."""
import math

import pytest

from loopscope.sim_devices.config import ConfigError, load_config
from loopscope.sim_devices.dilution_refrigerator import DilutionRefrigerator
from loopscope.sim_devices.ruox import R_40K, R_50MK, RuOxSensor, rx202a_temperature_K
from loopscope.sim_devices.world import World

from .conftest import open_inst, wait_until

DR = {"models": {"temperature_controller": "lakeshore372"}, "cryostat": {"kind": "dilution_refrigerator"}}


def fridge(**over):
    cfg = load_config({**DR, "cryostat": {"kind": "dilution_refrigerator", "dilution_refrigerator": over}})
    return World(cfg).cryostat


# ------------------------------------------------------------------ the RuOx curve
@pytest.mark.parametrize("ohm, kelvin", [(69191.1, 0.050), (5166.86, 0.650), (2843.53, 5.0), (2243.15, 40.0)])
def test_rx202a_standard_curve_at_its_published_range_ends(ohm, kelvin):
    # the ends of the three Chebyshev ranges of Lake Shore's RX-202A fit (sim_devices/ruox.py)
    assert rx202a_temperature_K(ohm) == pytest.approx(kelvin, rel=2e-3)


def test_ruox_is_monotonic_smooth_at_50_mK_and_inverts():
    s = RuOxSensor()
    temps = [0.008 * (40 / 0.008) ** (i / 400) for i in range(401)]
    ohms = [s.resistance_ohm(t) for t in temps]
    assert all(a > b for a, b in zip(ohms, ohms[1:]))          # NTC from 8 mK to 40 K
    assert s.resistance_ohm(0.05) == pytest.approx(R_50MK, rel=1e-3)
    assert s.resistance_ohm(40.0) == pytest.approx(R_40K, rel=1e-6)
    # the hopping extension joins the standard curve with the same logarithmic slope
    h = 1e-3
    below = math.log(s.resistance_ohm(0.05) / s.resistance_ohm(0.05 * (1 - h))) / math.log(1 / (1 - h))
    above = math.log(s.resistance_ohm(0.05 * (1 + h)) / s.resistance_ohm(0.05)) / math.log(1 + h)
    assert below == pytest.approx(above, rel=0.02)
    for t in (0.01, 0.02, 0.05, 0.3, 4.2):
        assert s.temperature_K(s.resistance_ohm(t)) == pytest.approx(t, rel=1e-6)


def test_self_heating_grows_with_the_excitation():
    s = RuOxSensor(2.5e-10)
    small, big = s.sensor_temperature_K(0.02, 1e-12), s.sensor_temperature_K(0.02, 1e-9)
    assert small - 0.02 < 1e-5 < big - 0.02
    # P = I^2 R(T_s) = K (T_s^2 - T^2) holds at the solution
    assert (1e-9) ** 2 * s.resistance_ohm(big) == pytest.approx(2.5e-10 * (big ** 2 - 0.02 ** 2), rel=1e-4)


# ------------------------------------------------------------------ the dilution unit
def test_cooling_power_is_pobells_and_84_n3_T2_with_ideal_exchangers():
    dr = fridge()
    n3 = dr.circulation_mol_per_s()
    assert n3 == pytest.approx(1e-3 * (1 - math.exp(-5e-3 / (40 * 1e-3))))     # 117.5 umol/s
    T = 0.1
    assert dr.cooling_power_W(T) + dr.Q0 == pytest.approx(n3 * (95 * T ** 2 - 11 * dr.T_ex ** 2))
    ideal = fridge(exchanger_temperature_K=0.1)
    assert ideal.cooling_power_W(0.1) + ideal.Q0 == pytest.approx(84 * n3 * 0.1 ** 2)
    assert dr.base_temperature_K() == pytest.approx(0.00996, rel=0.01)        # ~10 mK
    assert dr.temperature_K == dr.base_temperature_K()


def test_open_loop_step_settles_as_the_heat_balance_integrated_in_small_steps():
    dr, ref = fridge(), fridge()
    for f in (dr, ref):
        f.heater_range, f.mode, f.manual_output_pct = 4, "open", 50.0      # 30 uW
    n3, P = ref.circulation_mol_per_s(), ref.heater_power_W()
    assert P == pytest.approx(0.25 * 1e-3 ** 2 * 120)
    # gamma T dT/dt = P + Q0 - n3 (95 T^2 - 11 T_ex^2), Euler steps of 0.01 s
    T, dt = ref.temperature_K, 0.01
    for _ in range(int(round(90.0 / dt))):
        T += dt * (P + ref.Q0 - n3 * (95 * T ** 2 - 11 * ref.T_ex ** 2)) / (ref.gamma * T)
    dr.advance(90.0)
    assert dr.temperature_K == pytest.approx(T, rel=2e-3)
    assert dr.time_constant_s() == pytest.approx(dr.gamma / (190 * n3))        # 90 s
    dr.advance(3000)
    assert dr.temperature_K == pytest.approx(math.sqrt((11 * n3 * dr.T_ex ** 2 + dr.Q0 + P) / (95 * n3)), rel=1e-6)


def test_closed_loop_reaches_and_holds_a_setpoint_and_a_range_caps_it():
    dr = fridge()
    dr.heater_range, dr.mode, dr.setpoint_K = 5, "closed", 0.1
    dr.set_loop()
    dr.advance(5.0)
    assert dr.base_temperature_K() < dr.temperature_K < 0.1      # warming on full range power
    assert dr.heater_output_pct() == pytest.approx(100.0)
    dr.advance(60.0)
    assert dr.temperature_K == pytest.approx(0.1)
    assert dr.heater_power_W() == pytest.approx(dr.cooling_power_W(0.1))   # holding: balance
    dr.setpoint_K = 0.02
    dr.set_loop()
    dr.advance(60.0)
    assert 0.02 < dr.temperature_K < 0.1                          # cooling takes minutes
    dr.advance(1200.0)
    assert dr.temperature_K == pytest.approx(0.02)
    dr.heater_range, dr.setpoint_K = 3, 0.2                       # 12 uW cannot hold 200 mK
    dr.set_loop()
    dr.advance(3000.0)
    assert dr.temperature_K == pytest.approx(dr.max_temperature_K(3), rel=1e-4)
    assert dr.max_temperature_K(3) < 0.04


def test_the_still_heater_sets_the_circulation():
    dr = fridge()
    dr.still_power_W = 0.0
    t0 = dr.temperature_K
    dr.advance(600.0)
    assert dr.temperature_K > t0                                   # no circulation: the leak warms it
    dr.still_power_W = 20e-3
    assert dr.circulation_mol_per_s() > fridge().circulation_mol_per_s()


# ------------------------------------------------------------------ configuration
def test_a_dilution_refrigerator_needs_the_372_and_the_372_needs_one():
    with pytest.raises(ConfigError, match="Lake Shore 336 cannot read"):
        load_config({"cryostat": {"kind": "dilution_refrigerator"}})
    with pytest.raises(ConfigError, match="needs cryostat.kind: dilution_refrigerator"):
        load_config({"models": {"temperature_controller": "lakeshore372"}})
    with pytest.raises(ConfigError, match="cryostat.kind"):
        load_config({"cryostat": {"kind": "pulse_tube"}})
    assert isinstance(World(load_config(DR)).cryostat, DilutionRefrigerator)


# ------------------------------------------------------------------ the 372 twin
@pytest.fixture
def ls372(rm, lab_factory):
    lab = lab_factory("dilution_fridge", speed=100.0)
    return lab, open_inst(rm, lab, "temperature_controller")


def test_identity_readings_and_status(ls372):
    lab, tc = ls372
    assert tc.query("*IDN?").startswith("LSCI,MODEL372,")
    T = float(tc.query("RDGK? 6"))
    assert T == pytest.approx(lab.world.cryostat.temperature_K, rel=0.01)
    R = float(tc.query("RDGR? 6"))
    assert RuOxSensor.temperature_K(R) == pytest.approx(lab.world.cryostat.temperature_K, rel=0.01)
    assert tc.query("RDGST? 6") == "000"
    assert int(tc.query("RDGST? 5")) & 16                          # no sensor: R.OVER
    assert float(tc.query("RDGK? 5")) == 0.0
    assert float(tc.query("RDGK? 1")) == pytest.approx(3.4, rel=0.01)   # 4K plate
    assert tc.query("SCAN?") == "06,0"
    tc.query("*ESR?")
    tc.write("FOO 1")
    assert int(tc.query("*ESR?")) & 32                             # CME
    tc.write("RANGE 0,9")
    assert int(tc.query("*ESR?")) & 16                             # EXE


def test_the_curve_table_converts_resistance_as_the_sensor_does(lab_factory, rm):
    lab = lab_factory({**DR, "cryostat": {"kind": "dilution_refrigerator",
                                          "dilution_refrigerator": {"reading_noise_fraction": 0.0}}},
                      speed=1e-3)      # the plate stays where it is put while it is read
    tc = open_inst(rm, lab, "temperature_controller")
    sim = lab.instruments["temperature_controller"]
    assert tc.query("CRVHDR? 22").split(",")[2] == "4"              # log ohm / K
    logr, kelvin = (float(x) for x in tc.query("CRVPT? 22,1").split(","))
    assert 10 ** logr == pytest.approx(RuOxSensor.resistance_ohm(kelvin), rel=1e-5)
    for T in (0.02, 0.05, 0.1, 0.3):
        lab.world.cryostat.temperature_K = T
        sim.channels["6"].last_ohm = 0.0
        assert float(tc.query("RDGK? 6")) == pytest.approx(T, rel=2e-3)


def test_scanner_change_pause_and_filter_settling(ls372):
    lab, tc = ls372
    sim = lab.instruments["temperature_controller"]
    plate_before = float(tc.query("RDGR? 1"))
    lab.world.cryostat.plate_4K_K = 3.0                           # the plate cools while not scanned
    tc.write("SCAN 1,0")
    t_switch = lab.world.t
    assert tc.query("SCAN?") == "01,0"
    assert wait_until(lambda: tc.query("RDGSTL?") == "0,2" or lab.world.t - t_switch > 3, timeout=5)
    if lab.world.t - t_switch < 3:                                  # within the 3 s change pause
        assert float(tc.query("RDGR? 1")) == plate_before           # held at its last value
    assert wait_until(lambda: tc.query("RDGSTL?") == "0,0", timeout=10)
    assert lab.world.t - t_switch >= 3 + 10                        # pause + filter settle
    assert float(tc.query("RDGK? 1")) == pytest.approx(3.0, rel=0.01)
    # the mixing chamber is not scanned now: its reading is held at what it read when the
    # scanner left it, whatever the plate does
    mc_held = float(tc.query("RDGR? 6"))
    lab.world.cryostat.temperature_K = 0.05
    assert float(tc.query("RDGR? 6")) == mc_held
    assert RuOxSensor.temperature_K(mc_held) < 0.02
    tc.write("SCAN 6,1")                                           # autoscan over 1, 2, 3, 6
    assert wait_until(lambda: tc.query("SCAN?").startswith("01"), timeout=10)
    assert sim.autoscan == 1


def test_sample_heater_still_and_safe_defaults(ls372):
    lab, tc = ls372
    dr = lab.world.cryostat
    assert tc.query("RANGE? 0") == "0" and tc.query("OUTMODE? 0").startswith("5,6,")
    assert float(tc.query("STILL?")) == pytest.approx(100 * math.sqrt(5e-3 * 1000) / 10, rel=1e-4)
    tc.write("RANGE 0,5")
    tc.write("SETP 0,0.05")
    # each query brings the world to the present; the loop then holds the plate at 50 mK
    assert wait_until(lambda: float(tc.query("RDGK? 6")) > 0 and dr.temperature_K == pytest.approx(0.05),
                      timeout=20)
    assert float(tc.query("RDGK? 6")) == pytest.approx(0.05, rel=0.01)
    tc.write("HTRSET 0,120,0,0,2")                                 # display power
    tc.query("*OPC?")
    assert float(tc.query("HTR?")) == pytest.approx(dr.heater_power_W(), rel=1e-3)
    tc.write("STILL 0")
    tc.query("*OPC?")                                             # answered after the write
    assert dr.still_power_W == 0.0
    tc.write("*RST")
    tc.query("*OPC?")
    assert dr.heater_range == 0 and dr.still_power_W == pytest.approx(5e-3)
