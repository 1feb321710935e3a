"""One shared physical world: every simulated instrument reads and drives this state.

Lazy evolution: nothing runs in the background; each query calls ``advance()``, which moves the
state to the clock's present in closed form or small steps. Thread-safe through one RLock.
"""
from __future__ import annotations

import math
import threading

import numpy as np

from .cantilever import Cantilever
from .clock import SimClock
from .coil import HelmholtzCoil
from .config import load_config
from .constants import PHI0_SC
from .cryostat import Cryostat
from .dilution_refrigerator import DilutionRefrigerator
from .magnet import COOLING, HEATING, QUENCH, RAMPING, ZEROING, SuperconductingMagnet
from .rings import RingArray
from .samples import GradedCylinder, Paramagnet, SoftCore, SuperconductingLoop, UniformCylinder
from .squid import FluxLockedLoop
from .wire import MetalWire

YEAR_S = 365.25 * 86400


def _rings(cfg: dict, rng) -> RingArray:
    return RingArray(cfg["radius_m"], cfg["n_rings"], cfg["diffusion_m2_per_s"], cfg["n_harmonics"],
                     cfg["temperature_model"], cfg["average_fraction"], cfg["theta_deg"],
                     cfg["T_p_K"], cfg["fermi_velocity_m_per_s"], rng, cfg["spin_degeneracy"])


def build_sample(scfg: dict, rng):
    kind = scfg["kind"]
    p = scfg[kind]
    if kind == "rings":
        return _rings(p, rng)
    if kind == "uniform_cylinder":
        return UniformCylinder(p["radius_m"], p["length_m"], p["magnetization_A_per_m"])
    if kind == "graded_cylinder":
        return GradedCylinder(p["radius_m"], p["length_m"], p["k_A_per_m3"])
    if kind == "paramagnet":
        return Paramagnet(p["n_per_m3"], p["g"], p["J"], p["chi_dia"], p["volume_m3"])
    if kind == "soft_core":
        return SoftCore(p["Ms"], p["a"], p["k"], p["c"], p["alpha"], p["volume_m3"],
                        p.get("demagnetizing_factor", 0.0))
    if kind == "sc_loop":
        return SuperconductingLoop(p["radius_m"], p["trapped_current_A"], p["tau_s"], p["creep_rate_S"], p["t0_s"])
    raise ValueError(f"sample.kind: unknown {kind!r}")


def _magnet(m: dict) -> SuperconductingMagnet:
    return SuperconductingMagnet(
        m["coil_constant_T_per_A"], m["inductance_H"], m["max_current_A"], m["max_ramp_rate_A_per_s"],
        m["persistent_decay_tau_years"] * YEAR_S, m["switch_installed"], m["heater_warm_s"],
        m["heater_cool_s"], m["mismatch_tolerance_A"], m["quench_dump_tau_s"], m["voltage_limit_V"],
        m["ramp_rate_A_per_s"], m["current_limit_A"])


def build_cryostat(cr: dict):
    """The cryostat of cryostat.kind: the first-order one, or a dilution refrigerator."""
    if cr["kind"] == "dilution_refrigerator":
        # the thermometer's numbers (self-heating, noise) are the Lake Shore 372 twin's to read
        fridge = {k: v for k, v in cr["dilution_refrigerator"].items()
                  if k not in ("sensor_thermal_conductance_W_per_K2", "reading_noise_fraction")}
        return DilutionRefrigerator(**fridge)
    return Cryostat(cr["base_temperature_K"], cr["time_constant_s"], cr["max_temperature_K"],
                    cr["initial_temperature_K"])


class World:
    def __init__(self, config=None, seed: int = 0, clock: SimClock | None = None):
        self.config = cfg = load_config(config)
        self.seed = seed
        self.clock = clock or SimClock(1.0)
        self.lock = threading.RLock()
        ss = np.random.SeedSequence(seed)
        world_rng = np.random.default_rng(ss.spawn(1)[0])
        c = cfg["coil"]
        self.coil = HelmholtzCoil(c["radius_m"], c["turns"], c["inductance_H"], c["resistance_ohm"],
                                  c["loop_time_constant_s"], c["max_current_A"], c["max_voltage_V"])
        self.magnet = _magnet(cfg["magnet"])
        #: the magnet of each field axis: the solenoid along z, and on a vector magnet
        #: (vector_magnet.enabled) the x and y split pairs
        self.magnets = {"z": self.magnet}
        self.vector = bool(cfg["vector_magnet"]["enabled"])
        if self.vector:
            self.magnets["x"] = _magnet(cfg["vector_magnet"]["x"])
            self.magnets["y"] = _magnet(cfg["vector_magnet"]["y"])
        self.cryostat = build_cryostat(cfg["cryostat"])
        self.sample = build_sample(cfg["sample"], world_rng)
        self.sample_kind = cfg["sample"]["kind"]
        cc = cfg["cantilever"]
        self.cantilever = Cantilever(cc["f0_Hz"], cc["Q"], cc["spring_N_per_m"], cc["length_m"],
                                     cc["background_Hz_per_T2"], cc["static_gain_V_per_V"],
                                     cc["frequency_noise_Hz"], _rings(cc["rings"], world_rng), cc["mode"])
        self.squid_cfg = cfg["squid"]
        f = cfg["fll"]
        self.fll = FluxLockedLoop(f["feedback_resistor_ohm"], f["feedback_A_per_phi0"], f["gain"],
                                  f["slew_phi0_per_s"], f["output_limit_V"], cfg["squid"]["flux_noise_phi0"])
        self.wire = MetalWire(**cfg["wire"])
        self.max_substep = cfg["world"]["max_substep_s"]
        self.max_substeps = cfg["world"]["max_substeps"]
        self.t = 0.0
        #: the SQUID's flux noise per reading (Phi0), drawn by the FLL controller's generator
        self.fll_noise_source = lambda: 0.0
        self.fll.track(self.squid_flux_phi0(), 0.0)

    # ----------------------------------------------------------------- state queries (no advance)
    @property
    def field_T(self) -> float:
        """Field at the sample along z: coil + magnet (coaxial). A single-axis Hall probe along
        z reads this, and the samples other than rings answer to it."""
        return self.coil.field_T + self.magnet.field_T

    @property
    def field_vector_T(self) -> tuple[float, float, float]:
        """(Bx, By, Bz) at the sample: the x and y split pairs of a vector magnet (zero
        without one) and field_T along z."""
        if not self.vector:
            return (0.0, 0.0, self.field_T)
        return (self.magnets["x"].field_T, self.magnets["y"].field_T, self.field_T)

    def _ring_current_A(self, rings) -> float:
        """The rings' current in the field at the sample. Without a vector magnet the field is
        along z and the rings' own theta_deg is its angle to their plane; with one, the
        rings' plane is fixed in the lab (normal in the xz plane at theta_deg from x, so that
        a field along z makes theta_deg with it) and the flux is A B.n."""
        if not self.vector:
            return rings.current_A(self.field_T, self.temperature_K)
        return rings.current_at_flux_A(rings.flux_of_vector_Wb(self.field_vector_T), self.temperature_K)

    @property
    def temperature_K(self) -> float:
        return self.cryostat.temperature_K

    def sample_moment_Am2(self) -> float:
        if self.sample_kind == "rings":
            r = self.sample
            return self._ring_current_A(r) * r.area_m2
        return self.sample.moment_Am2(self.field_T, self.temperature_K, self.t)

    def squid_flux_phi0(self) -> float:
        """Phi_SQUID in units of h/2e: ring term (M_rp I) or coupling x moment, plus the Curie-like
        background chi_bg B with chi_bg = C/T, a gradiometer imbalance and an offset c0."""
        s = self.squid_cfg
        B, T = self.field_T, max(self.temperature_K, 1e-6)
        if self.sample_kind == "rings":
            phi = s["mutual_inductance_H"] * self._ring_current_A(self.sample) / PHI0_SC
        else:
            phi = s["coupling_phi0_per_Am2"] * self.sample.moment_Am2(B, T, self.t)
        return (phi + s["background_curie_phi0_K_per_T"] / T * B
                + s["applied_field_coupling_phi0_per_T"] * B + s["offset_phi0"])

    def wire_resistance_ohm(self) -> float:
        """The gold wire's four-terminal resistance at the present temperature and field."""
        return self.wire.resistance_ohm(self.temperature_K, self.field_T)

    def cantilever_resonance_Hz(self) -> float:
        if self.vector:
            return self.cantilever.resonance_in_vector_Hz(self.field_vector_T, self.temperature_K)
        return self.cantilever.resonance_Hz(self.field_T, self.temperature_K)

    # ----------------------------------------------------------------- evolution
    def advance(self) -> float:
        """Bring the world to the clock's present; returns the simulated time.

        Coil, magnet and cryostat evolve in closed form, so small substeps are needed only
        while the field is moving (for the FLL's slew tracking, the core's hysteresis and
        a quench field crossing); a quiet stretch is covered in one step. This keeps a
        sped-up lab cheap: most queries find the field settled."""
        with self.lock:
            now = self.clock.now()
            remaining = now - self.t
            if remaining <= 0:
                return self.t
            # while moving: at most max_substeps steps over the whole interval, as before
            moving_step = max(self.max_substep, remaining / self.max_substeps)
            while remaining > 1e-15:
                h = min(moving_step, remaining) if self._field_moving() else remaining
                self._step(h)
                remaining -= h
            self.t = now
            return now

    def _field_moving(self) -> bool:
        coil = self.coil
        target, v_c = coil._target_and_compliance()
        i_max = v_c / coil.R if coil.R > 0 else math.inf
        target = max(-i_max, min(i_max, target))
        return abs(target - coil.current_A) > 1e-9 or any(
            m.state in (RAMPING, ZEROING, QUENCH, HEATING, COOLING) for m in self.magnets.values())

    def _step(self, h: float) -> None:
        self.coil.advance(h)
        self.magnet.advance(h, self.field_T)
        if self.vector:
            # a quench fault's field on a transverse axis is that axis's own field
            for axis in ("x", "y"):
                self.magnets[axis].advance(h, self.magnets[axis].field_T)
        self.cryostat.advance(h)
        self.t += h
        if self.sample_kind == "soft_core":
            self.sample.advance_field(self.field_T)
        self.fll.track(self.squid_flux_phi0(), h)
