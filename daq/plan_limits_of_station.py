"""What the plan check needs to know of a station, read from its validated configuration.

This lets `check_plan_against_station` refuse a plan before any connection is opened.
"""
from __future__ import annotations


def plan_instruments(config) -> dict[str, tuple[str, dict]]:
    """StationConfig -> {name: (role kind, limits and the settings that bound a plan)}."""
    from loopscope.instruments.registry import resolve_driver

    out: dict[str, tuple[str, dict]] = {}
    for name, cfg in config.instruments.items():
        info = dict(cfg.limits)
        role_cls = resolve_driver(cfg.driver).role_cls
        if cfg.role == "field_source":
            info["coil_constant_T_per_A"] = float(
                cfg.settings.get("coil_constant_T_per_A", getattr(role_cls, "coil_constant_T_per_A", 1.0)))
            info["has_persistent_switch"] = bool(
                cfg.settings.get("persistent_switch", getattr(role_cls, "has_persistent_switch", False)))
        if cfg.role == "lockin":
            # the instrument's own range, known from the driver class without connecting
            driver_range = getattr(resolve_driver(cfg.driver).driver_cls, "FREQUENCY_RANGE_HZ", None)
            if driver_range is not None:
                info["driver_min_frequency_Hz"], info["driver_max_frequency_Hz"] = map(float, driver_range)
        out[name] = (cfg.role, info)
    return out
