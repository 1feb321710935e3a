"""The simulated lab's vector magnet: its x and y supplies served as AMI 430s on their own ports,
the field vector at the sample, and the rings' and cantilever's answers to it, checked by routes
of their own: a field in the rings' plane threads no flux (the rings then answer as to the
field's normal part alone), and the cantilever's stiffness equals minus the derivative of the
torque I dPhi/dalpha taken numerically with the rings' normal turned by alpha."""
from __future__ import annotations

import math

import numpy as np
import pytest

from loopscope.sim_devices import SimulatedLab
from loopscope.sim_devices.config import ConfigError, load_config
from loopscope.sim_devices.world import World


def set_field(magnet, field_T):
    """Put a magnet at a field directly (heater on, supply and magnet matched, holding)."""
    magnet.I_s = magnet.I_m = magnet.target_A = field_T / magnet.coil_constant


def test_without_a_vector_magnet_there_are_no_transverse_supplies():
    lab = SimulatedLab(None)
    assert "magnet_supply_x" not in lab.instruments and lab.world.magnets.keys() == {"z"}
    for bad, message in [({"models": {"magnet_supply_x": "ami430"}}, "models.magnet_supply_x"),
                         ({"interfaces": {"magnet_supply_y": "tcp"}}, "interfaces.magnet_supply_y"),
                         ({"faults": [{"instrument": "magnet_supply_x", "kind": "timeout"}]},
                          r"faults\[0\].instrument")]:
        with pytest.raises(ConfigError, match=message):
            load_config(bad)
    with pytest.raises(ConfigError, match="a quench fault needs a magnet supply"):
        load_config({"faults": [{"instrument": "gaussmeter", "kind": "quench", "field_T": 1}]})


def test_the_vector_lab_serves_two_more_ami430s_after_the_nine():
    with SimulatedLab("vector_magnet", base_port=0) as lab:
        names = [n for n, _, _ in lab.describe()]
        assert names[-2:] == ["magnet_supply_x", "magnet_supply_y"] and len(names) == 11
        x = lab.instruments["magnet_supply_x"]
        assert x.handle_line("*IDN?").startswith("AMERICAN MAGNETICS INC.,MODEL 430")
        # kG/A at the factory units: the split pair's 0.02 T/A
        assert float(x.handle_line("COIL?")) == pytest.approx(0.2)
        assert x.handle_line("PS:INST?") == "0"
        assert x.magnet is lab.world.magnets["x"] is not lab.world.magnet


def test_an_in_plane_field_threads_no_flux():
    """Rings normal to z (theta 90): a field turned by p from z gives the rings' answer to
    |B| cos p along z alone, whatever its in-plane part."""
    vec = World({"vector_magnet": {"enabled": True}})
    flat = World(None)
    for p_deg, azimuth in [(0, 0), (30, 0), (60, 90), (75, 200), (90, 45)]:
        b, p, a = 0.05, math.radians(p_deg), math.radians(azimuth)
        set_field(vec.magnets["x"], b * math.sin(p) * math.cos(a))
        set_field(vec.magnets["y"], b * math.sin(p) * math.sin(a))
        set_field(vec.magnet, b * math.cos(p))
        set_field(flat.magnet, b * math.cos(p))
        assert vec.field_vector_T == pytest.approx((b * math.sin(p) * math.cos(a),
                                                    b * math.sin(p) * math.sin(a), b * math.cos(p)))
        i_vec = vec._ring_current_A(vec.sample)
        assert i_vec == pytest.approx(flat.sample.current_A(flat.field_T, flat.temperature_K), rel=1e-12,
                                      abs=1e-22)
        assert vec.squid_flux_phi0() == pytest.approx(flat.squid_flux_phi0(), rel=1e-12)


def test_a_field_along_z_gives_the_single_axis_cantilever():
    vec = World({"vector_magnet": {"enabled": True}})
    flat = World(None)
    for b in (0.003, 0.2, 1.5):
        set_field(vec.magnet, b)
        set_field(flat.magnet, b)
        assert vec.cantilever_resonance_Hz() == pytest.approx(flat.cantilever_resonance_Hz(), rel=1e-13)


def test_the_cantilever_stiffness_is_minus_the_torque_derivative():
    w = World({"vector_magnet": {"enabled": True}})
    lever, rings, T = w.cantilever, w.cantilever.rings, 0.02
    theta = rings.theta_rad

    def flux(alpha, b):
        n = np.array([math.cos(theta + alpha), 0.0, math.sin(theta + alpha)])
        return rings.area_m2 * float(np.dot(b, n))

    def torque(alpha, b, h=1e-6):
        dphi = (flux(alpha + h, b) - flux(alpha - h, b)) / (2 * h)
        return rings.current_at_flux_A(flux(alpha, b), T) * dphi

    for b in ([0.01, 0.004, 0.02], [-0.03, 0.0, 0.01], [0.0, 0.02, 0.0]):
        b = np.array(b)
        h = 1e-4
        k_numeric = -(torque(h, b) - torque(-h, b)) / (2 * h)
        k = sum(lever.ring_stiffness_terms_in_vector(b, T))
        assert k == pytest.approx(k_numeric, rel=2e-6, abs=1e-30)


def test_a_quench_fault_on_a_transverse_axis_quenches_that_axis():
    lab = SimulatedLab({"vector_magnet": {"enabled": True},
                        "faults": [{"instrument": "magnet_supply_x", "kind": "quench", "field_T": 0.0}]})
    w = lab.world
    set_field(w.magnets["x"], 0.1)
    w._step(0.01)
    assert w.magnets["x"].quenched and not w.magnet.quenched and not w.magnets["y"].quenched
