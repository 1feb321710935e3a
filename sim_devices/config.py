"""Simulated-lab configuration: defaults, loading (YAML or dict) and strict validation.

Unknown keys are an error naming the key, so a typo never silently falls back to a default.
"""
from __future__ import annotations

import copy
from pathlib import Path

from loopscope.safe_yaml import SafeYAMLError, load_yaml_file

INSTRUMENT_NAMES = ("coil_supply", "magnet_supply", "gaussmeter", "nanovoltmeter", "lockin",
                    "lockin_sr860", "temperature_controller", "squid_controller", "source_meter")
#: the x and y supplies of a three-axis vector magnet (``vector_magnet.enabled``): served only
#: then, on the two ports after INSTRUMENT_NAMES'; the z axis is the magnet_supply
VECTOR_AXIS_NAMES = ("magnet_supply_x", "magnet_supply_y")
#: every slot a lab may have, and the axis each magnet slot drives
ALL_INSTRUMENT_NAMES = INSTRUMENT_NAMES + VECTOR_AXIS_NAMES
MAGNET_AXIS_OF_SLOT = {"magnet_supply": "z", "magnet_supply_x": "x", "magnet_supply_y": "y"}


def lab_instrument_names(cfg: dict) -> tuple[str, ...]:
    """The slots a lab of configuration ``cfg`` serves, in port order."""
    return ALL_INSTRUMENT_NAMES if cfg["vector_magnet"]["enabled"] else INSTRUMENT_NAMES

#: the models that can fill each instrument slot of the lab, the default first; a
#: configuration's ``models`` section picks another (``models: {gaussmeter: lakeshore475}``).
#: The classes are in lab.py's MODEL_CLASSES under the same keys.
MODEL_CHOICES = {
    "coil_supply": ("kepco_bop",),
    "magnet_supply": ("ami430", "cryomagnetics4g", "mercury_ips"),
    "gaussmeter": ("lakeshore425", "lakeshore475"),
    "nanovoltmeter": ("keithley2182a", "keysight34465a"),
    "lockin": ("sr830", "ametek7270"),
    "lockin_sr860": ("sr860", "sr865a"),
    "temperature_controller": ("lakeshore336", "lakeshore372", "mercury_itc"),
    "squid_controller": ("squid_fll",),
    "source_meter": ("keithley2400",),
    "magnet_supply_x": ("ami430",),
    "magnet_supply_y": ("ami430",),
}

FAULT_KINDS = ("timeout", "garbage", "drop", "slow", "quench", "refuse")

#: how the lab serves an instrument: a LAN socket, or a serial pseudo-terminal (POSIX)
INTERFACES = ("tcp", "serial")


def _ring_defaults(**over):
    d = {
        "radius_m": 3.0e-7,             # A = 2.83e-13 m^2, h/e period 14.6 mT at 90 deg
        "n_rings": 100,
        "diffusion_m2_per_s": 0.01,     # E_c/k_B = 21.5 mK, I_1(0) = 0.70 nA
        "n_harmonics": 4,
        "temperature_model": "diffusive",   # diffusive | ballistic | exponential
        "average_fraction": 0.05,       # h/2e ensemble-average part of even harmonics, x N
        "theta_deg": 90.0,              # angle between B and the ring plane
        "T_p_K": None,                  # exponential model scale; default 9.7 E_c/k_B
        "fermi_velocity_m_per_s": 1.4e6,
        "spin_degeneracy": 2,           # 2: both spins (a metal without spin-orbit); 1: one spin
    }
    d.update(over)
    return d


DEFAULTS: dict = {
    "coil": {
        "radius_m": 0.05, "turns": 460,            # k = 8.27 mT/A, 0.099 T at 12 A
        "inductance_H": 0.06, "resistance_ohm": 2.0,
        "loop_time_constant_s": 1e-3,
        "max_current_A": 12.0, "max_voltage_V": 36.0,
    },
    "magnet": {
        "coil_constant_T_per_A": 0.1, "inductance_H": 50.0, "max_current_A": 90.0,
        "max_ramp_rate_A_per_s": 0.1, "persistent_decay_tau_years": 30.0,
        "switch_installed": True, "heater_warm_s": 20.0, "heater_cool_s": 30.0,
        "mismatch_tolerance_A": 0.1, "quench_dump_tau_s": 0.5,
        "voltage_limit_V": 2.0, "ramp_rate_A_per_s": 0.02, "current_limit_A": 90.0,
    },
    # a three-axis vector magnet: the magnet above is its z solenoid; x and y are split pairs on
    # their own AMI 430s (magnet_supply_x, magnet_supply_y). Typical of a 9-1-1 T system: 1 T on
    # each transverse axis, no persistent switch on them (docs/simulated_lab.md)
    "vector_magnet": {
        "enabled": False,
        "x": {"coil_constant_T_per_A": 0.02, "inductance_H": 5.0, "max_current_A": 55.0,
              "max_ramp_rate_A_per_s": 0.2, "persistent_decay_tau_years": 30.0,
              "switch_installed": False, "heater_warm_s": 20.0, "heater_cool_s": 30.0,
              "mismatch_tolerance_A": 0.1, "quench_dump_tau_s": 0.5,
              "voltage_limit_V": 2.0, "ramp_rate_A_per_s": 0.05, "current_limit_A": 55.0},
        "y": {"coil_constant_T_per_A": 0.02, "inductance_H": 5.0, "max_current_A": 55.0,
              "max_ramp_rate_A_per_s": 0.2, "persistent_decay_tau_years": 30.0,
              "switch_installed": False, "heater_warm_s": 20.0, "heater_cool_s": 30.0,
              "mismatch_tolerance_A": 0.1, "quench_dump_tau_s": 0.5,
              "voltage_limit_V": 2.0, "ramp_rate_A_per_s": 0.05, "current_limit_A": 55.0},
    },
    "cryostat": {
        # first_order: a sample temperature lagging toward what the heater holds, a Lake Shore
        # 336's or a Mercury iTC's (sim_devices/cryostat.py); dilution_refrigerator: a mixing chamber cooled by a
        # dilution unit, read and heated by a Lake Shore 372 (sim_devices/dilution_refrigerator.py)
        "kind": "first_order",
        "base_temperature_K": 0.03, "time_constant_s": 120.0,
        "max_temperature_K": [1.0, 4.0, 20.0],     # heater ranges low, medium, high
        "initial_temperature_K": None,
        # the heater driven by power instead of ranges (a Mercury iTC's heater output): its
        # resistance, and the heat leak P = G (T^2 - T_base^2) it works against, the law the
        # 336's open-loop output follows here too; 12.5 W (25 V into 50 ohm) holds 290 K
        "heater_resistance_ohm": 50.0,
        "heater_conductance_W_per_K2": 1.5e-4,
        # the numbers and their sources: docs/simulated_lab.md, "The dilution refrigerator"
        "dilution_refrigerator": {
            "exchanger_temperature_K": 0.029,       # 3He out of the last exchanger: base 0.34 x this
            "residual_heat_load_W": 2.0e-8,         # 20 nW parasitic load on the mixing chamber
            "heat_capacity_J_per_K2": 2.0,          # C = gamma T: tau = gamma / (190 n3) = 90 s
            "still_latent_heat_J_per_mol": 40.0,    # 3He evaporation at the still (Pobell 7.3)
            "max_circulation_mol_per_s": 1.0e-3,    # the pumps' ceiling
            "still_heater_resistance_ohm": 1000.0,  # on the 372's 0-10 V still output
            "still_power_W": 5.0e-3,                # 5 mW: n3 = 117 umol/s
            "sample_heater_resistance_ohm": 120.0,  # mixing-chamber heater: 1.2 mW on range 5
            "still_temperature_K": 0.75, "cold_plate_K": 0.08,
            "plate_4K_K": 3.4, "plate_50K_K": 45.0,
            "initial_temperature_K": None,          # None: the base temperature
            "sensor_thermal_conductance_W_per_K2": 2.5e-10,   # RuOx chip to plate (self-heating)
            "reading_noise_fraction": 1.0e-4,       # the bridge's relative resistance noise
        },
    },
    "sample": {
        "kind": "rings",
        "rings": _ring_defaults(),
        "uniform_cylinder": {"radius_m": 1e-3, "length_m": 2e-3, "magnetization_A_per_m": 1e5},
        "graded_cylinder": {"radius_m": 1e-3, "length_m": 2e-3, "k_A_per_m3": 1e11},
        "paramagnet": {"n_per_m3": 1e27, "g": 2.0, "J": 0.5, "chi_dia": -1e-5, "volume_m3": 1e-9},
        # grain-oriented Fe-3%Si along the rolling direction (Js 2.03 T; quasi-static Hc ~23 A/m,
        # ~0.2 kJ/m^3 a cycle, B800 ~1.94 T: docs/simulated_lab.md), a 10 x 1 x 0.1 mm strip
        # along the field: demagnetizing factor 0.01107 (Aharoni's prism formula)
        "soft_core": {"Ms": 1.615e6, "a": 40.0, "k": 35.0, "c": 0.3, "alpha": 6.0e-5, "volume_m3": 1e-9,
                      "demagnetizing_factor": 0.01107},
        "sc_loop": {"radius_m": 1e-3, "trapped_current_A": 1.0, "tau_s": 3.15e9, "creep_rate_S": 0.02,
                    "t0_s": 1.0},
    },
    "squid": {
        "mutual_inductance_H": 1.0e-12,            # ring -> pickup, per ring (Maxwell ~0.96 pH)
        "coupling_phi0_per_Am2": 3.0e3,            # other samples: flux per moment (flux-transformer
                                                   # magnetometer: a 1 mm^3 ferromagnet gives a few Phi0)
        "background_curie_phi0_K_per_T": 3.0e-5,   # chi_bg = C/T (defect spins)
        "applied_field_coupling_phi0_per_T": 0.0,  # gradiometer imbalance
        "offset_phi0": 0.05,
        "flux_noise_phi0": 1.0e-7,                 # per reading (averaged)
    },
    "fll": {
        "feedback_resistor_ohm": 23250.0, "feedback_A_per_phi0": 4.3e-5,   # 1.0 V/Phi0
        "gain": 1.0, "slew_phi0_per_s": 1.0e6, "output_limit_V": 10.0,
    },
    "cantilever": {
        "f0_Hz": 2000.0, "Q": 20000.0, "spring_N_per_m": 1.0e-3, "length_m": 3.0e-4,
        "background_Hz_per_T2": 1.0e-3, "static_gain_V_per_V": 1.0e-4,
        # flexural: a clamped-free beam of length_m, tip slope 1.3765 x_tip/L; torsional: x/L
        "mode": "flexural",
        "frequency_noise_Hz": 1.0e-5,
        "rings": _ring_defaults(n_rings=1000, theta_deg=45.0),
    },
    "gaussmeter": {"noise_fraction_of_range": 1e-4, "probe_offset_G": 0.2},
    "nanovoltmeter": {"noise_V_10mV_range": 3e-9},
    # a gold wire on the sample stage, read four-terminal by the source-meter (sim_devices/wire.py;
    # the numbers and their sources: docs/simulated_lab.md, "The gold wire")
    "wire": {
        "length_m": 1.0e-4, "width_m": 1.0e-7, "thickness_m": 5.0e-8,   # L/S = 2e10 1/m
        "residual_resistivity_ohm_m": 2.0e-8,      # evaporated Au film: R_res = 400 ohm
        "phonon_resistivity_ohm_m": 5.26e-8,       # Bloch-Grueneisen prefactor of bulk Au
        "debye_temperature_K": 175.0,              # resistive Debye temperature of Au
        "mobility_m2_per_Vs": 5.3e-3,              # 1/(n e rho_0), n = 5.9e28 m^-3
        "thermoelectric_offset_V": 2.0e-7,         # thermal EMFs of the wiring
        "lead_resistance_ohm": 100.0,              # both current leads (two-wire only)
    },
    # the Keithley 2400's own noise at 1 NPLC (rms, as a fraction of the measurement range), besides the
    # wire's Johnson noise; and its current noise as a fraction of the current range
    "source_meter": {"voltage_noise_fraction_of_range": 5.0e-6, "current_noise_fraction_of_range": 1.0e-5},
    "lockin": {"input_noise_V_per_rtHz": 1e-8},
    "world": {"max_substep_s": 0.01, "max_substeps": 200},
    # instrument name -> "tcp" (the default) or "serial"
    "interfaces": {},
    # instrument name -> the model in that slot (MODEL_CHOICES; the first is the default)
    "models": {},
    "faults": [],
}

_FAULT_KEYS = {"instrument", "kind", "after_s", "count", "probability", "duration_s", "delay_s",
               "field_T", "match"}


class ConfigError(ValueError):
    """A bad simulated-lab configuration; the message names the key."""


def _merge(base: dict, over: dict, path: str) -> dict:
    out = copy.deepcopy(base)
    for key, val in over.items():
        where = f"{path}.{key}" if path else str(key)
        if key not in base:
            raise ConfigError(f"unknown configuration key '{where}' (known: {', '.join(sorted(base))})")
        if isinstance(base[key], dict):
            if not isinstance(val, dict):
                raise ConfigError(f"configuration key '{where}' must be a mapping, got {val!r}")
            out[key] = _merge(base[key], val, where)
        else:
            out[key] = val
    return out


def validate_fault(f: dict, where: str = "faults") -> dict:
    if not isinstance(f, dict):
        raise ConfigError(f"{where}: each fault must be a mapping, got {f!r}")
    for key in f:
        if key not in _FAULT_KEYS:
            raise ConfigError(f"unknown configuration key '{where}.{key}' (known: {', '.join(sorted(_FAULT_KEYS))})")
    if f.get("kind") not in FAULT_KINDS:
        raise ConfigError(f"{where}.kind: {f.get('kind')!r} is not one of {', '.join(FAULT_KINDS)}")
    if f.get("instrument") not in ALL_INSTRUMENT_NAMES:
        raise ConfigError(f"{where}.instrument: {f.get('instrument')!r} is not one of {', '.join(ALL_INSTRUMENT_NAMES)}")
    if f["kind"] == "quench" and f["instrument"] not in MAGNET_AXIS_OF_SLOT:
        raise ConfigError(f"{where}.instrument: a quench fault needs a magnet supply "
                          f"({', '.join(MAGNET_AXIS_OF_SLOT)}), got {f['instrument']!r}")
    if f["kind"] == "quench" and "field_T" not in f:
        raise ConfigError(f"{where}.field_T is required for a quench fault")
    if f["kind"] == "refuse" and not (isinstance(f.get("match"), str) and f["match"].strip()):
        raise ConfigError(f"{where}.match (the command header to refuse, e.g. 'FREQ') is required "
                          f"for a refuse fault")
    return dict(f)


def validate_interfaces(interfaces, where: str = "interfaces") -> dict:
    """``{instrument name: "tcp" | "serial"}``; an unknown name or interface is an error."""
    if not isinstance(interfaces, dict):
        raise ConfigError(f"{where} must be a mapping of instrument name to "
                          f"{' or '.join(INTERFACES)}, got {interfaces!r}")
    for name, kind in interfaces.items():
        if name not in ALL_INSTRUMENT_NAMES:
            raise ConfigError(f"unknown configuration key '{where}.{name}' (value {kind!r}; "
                              f"known: {', '.join(ALL_INSTRUMENT_NAMES)})")
        if kind not in INTERFACES:
            raise ConfigError(f"{where}.{name}: {kind!r} is not one of {', '.join(INTERFACES)}")
    return dict(interfaces)


def validate_models(models, where: str = "models") -> dict:
    """``{instrument name: model}``, each model one of that slot's MODEL_CHOICES."""
    if not isinstance(models, dict):
        raise ConfigError(f"{where} must be a mapping of instrument name to model, got {models!r}")
    for name, model in models.items():
        if name not in MODEL_CHOICES:
            raise ConfigError(f"unknown configuration key '{where}.{name}' (value {model!r}; "
                              f"known: {', '.join(MODEL_CHOICES)})")
        if model not in MODEL_CHOICES[name]:
            raise ConfigError(f"{where}.{name}: {model!r} is not one of {', '.join(MODEL_CHOICES[name])}")
    return dict(models)


def model_of(cfg: dict, name: str) -> str:
    """The model serving instrument slot ``name`` under configuration ``cfg``."""
    return cfg.get("models", {}).get(name, MODEL_CHOICES[name][0])


#: simulated labs named for what they stand for (``loopscope sim --config NAME``): files
#: sim_devices/profiles/NAME.yaml
PROFILES_DIR = Path(__file__).with_name("profiles")


def profile_names() -> list[str]:
    return sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))


def profile_summary(name: str) -> str:
    """A profile's first comment line: what lab it stands for."""
    for line in (PROFILES_DIR / f"{name}.yaml").read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
    return ""


def resolve_config(config):
    """A profile name becomes its file; anything else is returned as given."""
    if isinstance(config, str) and not config.endswith((".yaml", ".yml")) and (PROFILES_DIR / f"{config}.yaml").is_file():
        return PROFILES_DIR / f"{config}.yaml"
    return config


CRYOSTAT_KINDS = ("first_order", "dilution_refrigerator")


def _check_cryostat(cfg: dict) -> None:
    """The cryostat's kind, and the thermometry it takes: a dilution refrigerator's mixing
    chamber is read by the Lake Shore 372 (a RuOx at 10 mK needs an AC resistance bridge with
    picoampere excitation; a Model 336 reads NTC RTDs no lower than about 1 K), and the 372
    is modelled only on the dilution refrigerator; a Mercury iTC only on the first-order one."""
    kind = cfg["cryostat"]["kind"]
    if kind not in CRYOSTAT_KINDS:
        raise ConfigError(f"cryostat.kind: {kind!r} is not one of {', '.join(CRYOSTAT_KINDS)}")
    model = model_of(cfg, "temperature_controller")
    if model == "mercury_itc" and kind != "first_order":
        raise ConfigError(f"models.temperature_controller: mercury_itc needs cryostat.kind: "
                          f"first_order (got {kind}): a Mercury iTC runs VTIs and 1.5-300 K "
                          f"inserts, not a dilution refrigerator's mixing chamber")
    if kind == "dilution_refrigerator" and model != "lakeshore372":
        raise ConfigError("cryostat.kind: dilution_refrigerator needs models.temperature_controller: "
                          f"lakeshore372 (got {model}): a Lake Shore 336 cannot read the mixing "
                          "chamber's ruthenium-oxide sensor at millikelvin")
    if model == "lakeshore372" and kind != "dilution_refrigerator":
        raise ConfigError("models.temperature_controller: lakeshore372 needs cryostat.kind: "
                          "dilution_refrigerator (the 372 is the bridge of the dilution refrigerator)")


def _check_vector_magnet(cfg: dict) -> None:
    """The x and y supplies exist only on a vector magnet: a configuration that serves them,
    injects faults into them or puts a model in their slot without one is a mistake."""
    if cfg["vector_magnet"]["enabled"]:
        return
    for section in ("interfaces", "models"):
        for name in cfg[section]:
            if name in VECTOR_AXIS_NAMES:
                raise ConfigError(f"{section}.{name}: the lab has no {name} without "
                                  "vector_magnet.enabled: true")
    for i, f in enumerate(cfg["faults"]):
        if f.get("instrument") in VECTOR_AXIS_NAMES:
            raise ConfigError(f"faults[{i}].instrument: the lab has no {f['instrument']} without "
                              "vector_magnet.enabled: true")


def load_config(config=None) -> dict:
    """Defaults merged with a dict, a YAML file path or None; raises ConfigError."""
    if config is None:
        user = {}
    elif isinstance(config, dict):
        user = config
    else:
        p = Path(resolve_config(config))
        try:
            user = load_yaml_file(p, label="simulated-lab configuration")[0] or {}
        except SafeYAMLError as exc:
            raise ConfigError(str(exc)) from None
        if not isinstance(user, dict):
            raise ConfigError(f"{p}: the top level must be a mapping")
    user = dict(user)
    interfaces = validate_interfaces(user.pop("interfaces", None) or {})
    models = validate_models(user.pop("models", None) or {})
    cfg = _merge(DEFAULTS, user, "")
    cfg["interfaces"] = interfaces
    cfg["models"] = models
    _check_cryostat(cfg)
    kinds = [k for k in DEFAULTS["sample"] if k != "kind"]
    if cfg["sample"]["kind"] not in kinds:
        raise ConfigError(f"sample.kind: {cfg['sample']['kind']!r} is not one of {', '.join(kinds)}")
    if not isinstance(cfg["faults"], list):
        raise ConfigError("faults must be a list")
    cfg["faults"] = [validate_fault(f, f"faults[{i}]") for i, f in enumerate(cfg["faults"])]
    _check_vector_magnet(cfg)
    return cfg
