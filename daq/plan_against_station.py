"""A plan checked against a station before anything is touched: every setpoint within the
station's limits, every instrument the plan names present and of the right kind. The station
is known either from its file (`plan_instruments`, before any connection is opened) or from
its connected roles (`station_instruments`).
"""
from __future__ import annotations

import math

import numpy as np

from loopscope.daq.plans import MAX_FILE_BYTES, MAX_POINTS, Plan, PlanError, format_key
from loopscope.daq.run_columns import DETECTOR_QUANTITIES
from loopscope.instruments.roles import Role, role_kind

def check_plan_against_station(plan: Plan, instruments: dict[str, tuple[str, dict]]) -> tuple[str, list[str]]:
    """Check a plan against a station before anything is touched.

    `instruments` maps station name -> (role kind, limits dict). Returns (source, detectors).
    Raises PlanError naming the plan key and value.
    """
    m = plan.model
    where = plan.origin
    sources = [n for n, (k, _) in instruments.items() if k == "field_source"]
    if not sources:
        raise PlanError.at(where, ("source",), "the station has no field_source", m.source, shown_key="")
    vectors = [n for n in sources if "vector" in instruments[n][1]]
    source = m.source or (vectors[0] if plan.kind == "field_angle" and vectors else sources[0])
    if source not in instruments:
        raise PlanError.at(where, ("source",), f"no instrument {source!r} in the station "
                           f"(it has {', '.join(instruments)})", source)
    if instruments[source][0] != "field_source":
        raise PlanError.at(where, ("source",), f"{source!r} is a {instruments[source][0]}, not a field_source",
                           source)
    _check_vector_source(plan, where, source, instruments[source][1])
    if m.detectors is None:
        # every instrument that reads something (a source-meter is driven, through step(measure=...))
        detectors = [n for n, (k, _) in instruments.items() if k not in ("field_source", "source_meter")]
    else:
        detectors = list(m.detectors)
        for i, d in enumerate(detectors):
            if d not in instruments:
                raise PlanError.at(where, ("detectors", i), f"no instrument {d!r} in the station "
                                   f"(it has {', '.join(instruments)})", d, shown_key="detectors")
            if instruments[d][0] == "field_source":
                raise PlanError.at(where, ("detectors", i), f"{d!r} is a field source; it is read at every "
                                   "point anyway", d, shown_key="detectors")
    kinds = {instruments[d][0] for d in detectors}
    if plan.kind == "resonance_tracking" and "lockin" not in kinds:
        raise PlanError.at(where, ("detectors",), "resonance_tracking needs a lockin among the detectors",
                           m.detectors, shown_key="")
    if plan.kind == "grid":
        need = "thermometer" if m.outer.quantity == "temperature" else "lockin"
        if need not in kinds:
            raise PlanError.at(where, ("outer", "quantity"), f"outer.quantity {m.outer.quantity} needs a {need} "
                               "among the detectors", m.outer.quantity, shown_key="", related=(("detectors",),))

    src_limits = instruments[source][1]
    coil_constant = float(src_limits.get("coil_constant_T_per_A", 1.0))
    max_field = float(src_limits.get("max_field_T", math.inf))
    max_current = float(src_limits.get("max_current_A", math.inf))
    max_rate = float(src_limits.get("max_ramp_rate_T_per_min", math.inf))
    lim = m.limits
    # every comparison below is written `not value <= limit`, so that a NaN (which compares
    # False with everything) is refused instead of slipping through
    for key, plan_value, station_value in (("max_field_T", lim.max_field_T, max_field),
                                           ("max_current_A", lim.max_current_A, max_current),
                                           ("max_ramp_rate_T_per_min", lim.max_ramp_rate_T_per_min, max_rate)):
        if plan_value is not None and not plan_value <= station_value:
            raise PlanError.at(where, ("limits", key), f"{plan_value:g} is above the station's {station_value:g}; "
                               "a plan may ask for less, never more", plan_value)
    max_field = min(max_field, lim.max_field_T or math.inf)
    max_current = min(max_current, lim.max_current_A or math.inf)
    max_rate = min(max_rate, lim.max_ramp_rate_T_per_min or math.inf)

    extremes = plan.field_extremes()  # the same largest |value| as plan.field_values(), unbuilt
    for key, v in extremes:
        if not math.isfinite(v):
            raise PlanError.at(where, key, f"{v!r} is not a finite number", v)
    if extremes:
        key, v = max(extremes, key=lambda kv: abs(kv[1]))
        b = v if m.axis == "field" else v * coil_constant
        visits = f"{v:g} T" if m.axis == "field" else f"{v:g} A = {b:g} T"
        if not abs(b) <= max_field * (1 + 1e-12):
            raise PlanError.at(where, key, f"the plan visits {visits}, beyond the field limit ±{max_field:g} T "
                               f"of {source}", v)
        if not abs(b / coil_constant) <= max_current * (1 + 1e-12):
            raise PlanError.at(where, key, f"the plan visits {visits}, beyond the current limit "
                               f"±{max_current:g} A of {source}", v)
    if m.ramp_rate_T_per_min is not None and not m.ramp_rate_T_per_min <= max_rate:
        raise PlanError.at(where, ("ramp_rate_T_per_min",), f"{m.ramp_rate_T_per_min:g} is above the limit "
                           f"{max_rate:g} T/min of {source}", m.ramp_rate_T_per_min)
    if plan.kind == "code":
        _check_code_plan_steps(plan, where, instruments, detectors, source, src_limits, lim)
    if plan.kind == "persistent_step":
        if not src_limits.get("has_persistent_switch", False):
            raise PlanError.at(where, ("source",), f"persistent_step needs a field source with a persistent "
                               f"switch; {source!r} has none", source, shown_key="")
    if plan.kind == "grid" and m.outer.quantity == "temperature":
        thermometers = [d for d in detectors if instruments[d][0] == "thermometer"]
        t_max = temperature_limit(instruments, thermometers, lim)
        (low_key, low), (high_key, high) = m.outer.extremes()
        if not high <= t_max:
            raise PlanError.at(where, high_key, f"temperature {high:g} K is above the limit {t_max:g} K", high)
        if not low > 0:
            raise PlanError.at(where, low_key, f"temperature {low:g} K; temperatures must be above 0 K", low)
    lockins = [d for d in detectors if instruments[d][0] == "lockin"]
    if plan.kind == "grid" and m.outer.quantity == "frequency":
        (low_key, low), (high_key, high) = m.outer.extremes()
        for key, f in ((low_key, low), (high_key, high)):
            _check_frequency(where, key, f, instruments, lockins)
    if plan.kind == "resonance_tracking":
        lo, hi = m.resonance.window()
        _check_frequency(where, ("resonance", "center_Hz"), m.resonance.center_Hz, instruments, lockins[:1])
        _check_frequency(where, ("resonance", "span_Hz"), lo, instruments, lockins[:1],
                         what=f"the search window {lo:g}..{hi:g} Hz reaches")
        _check_frequency(where, ("resonance", "span_Hz"), hi, instruments, lockins[:1],
                         what=f"the search window {lo:g}..{hi:g} Hz reaches")
    if m.temperature is not None:
        name = _first_of_kind(instruments, "thermometer", None, where, ("temperature",))
        t_max = temperature_limit(instruments, [name], lim)
        if not m.temperature.setpoint_K <= t_max:
            raise PlanError.at(where, ("temperature", "setpoint_K"), f"{m.temperature.setpoint_K:g} K is above "
                               f"the limit {t_max:g} K of {name}", m.temperature.setpoint_K)
    if plan.kind == "continuous":
        plan.coil_constant_T_per_A = coil_constant  # how long a ramp of amperes takes
        if not m.rate_T_per_min <= max_rate:
            raise PlanError.at(where, ("rate_T_per_min",), f"{m.rate_T_per_min:g} is above the limit "
                               f"{max_rate:g} T/min of {source}", m.rate_T_per_min)
        if not plan.max_points() <= MAX_POINTS:
            raise PlanError.at(where, ("interval_s",), f"the ramp read every {m.interval_s:g} s makes up to "
                               f"{plan.max_points():.3g} readings, more than the limit of {MAX_POINTS:,} points",
                               m.interval_s)
    columns = 8 + len(plan.label_columns()) + sum(len(DETECTOR_QUANTITIES.get(instruments[d][0], ()))
                                                  for d in detectors)
    bound = plan.max_points()  # total_points() but for a continuous ramp, whose count is known only roughly
    expected = bound * columns * 8
    if expected > MAX_FILE_BYTES:
        # the plan as a whole: its points and its detectors together make the file
        raise PlanError.at(where, (), f"{bound:,} points of {columns} quantities make a run file of "
                           f"about {expected / 1e9:.1f} GB, more than the limit of {MAX_FILE_BYTES / 1e9:g} GB",
                           expected)
    for i, sus in enumerate(m.suspenders):
        if sus.kind == "temperature_band":
            _first_of_kind(instruments, "thermometer", sus.instrument, where, ("suspenders", i, "instrument"),
                           shown_key=f"suspenders[{i}]")
        else:
            _first_of_kind(instruments, "field_probe", sus.probe, where, ("suspenders", i, "probe"),
                           shown_key=f"suspenders[{i}]")
    return source, detectors


def _check_vector_source(plan: Plan, where: str, source: str, info: dict) -> None:
    """A vector magnet's rules: its axes are driven only through it (so the vector limit is
    always kept), a field-angle sweep needs one, and every field vector the plan visits is
    within the vector limit and every axis's own limits, checked here before anything moves.
    The path between two vectors is the ramp's (decreasing axes first), within the limit
    whenever its ends are (instruments/vector_field_limit.py)."""
    from loopscope.instruments.vector_field_limit import AXES, unit_vector
    m = plan.model
    axis_of = info.get("vector_axis_of")
    if axis_of is not None:
        vname, axis = axis_of
        raise PlanError.at(where, ("source",), f"{source!r} is the {axis} axis of the vector magnet {vname!r}; "
                           f"sweep it through the vector magnet (source: {vname}, direction: the {axis} axis) "
                           "so that the vector limit is kept", source)
    vector = info.get("vector")
    if vector is None:
        if plan.kind == "field_angle":
            raise PlanError.at(where, ("source",), f"a field-angle sweep needs a vector magnet; {source!r} is "
                               "a single-axis field source", source)
        if m.direction is not None:
            raise PlanError.at(where, ("direction",), f"direction applies to a vector magnet; {source!r} is a "
                               "single-axis field source", m.direction)
        return
    if m.axis == "current":
        raise PlanError.at(where, ("axis",), f"{source!r} is a vector magnet: plans set its field (axis: field), "
                           "not one current", m.axis)
    if plan.kind == "persistent_step" or (plan.kind == "code" and any(s.enter_persistent for s in plan.steps)):
        raise PlanError.at(where, ("source",), f"persistent mode is not run through the vector magnet "
                           f"{source!r}: its axes would be trapped one by one, outside the vector ramp", source)
    direction = vector["direction"]
    if m.direction is not None:
        direction = unit_vector(list(m.direction), "direction",
                                lambda msg: PlanError.at(where, ("direction",), msg, m.direction))
    keys, vectors = plan.field_vectors()
    if not keys:  # the scalar kinds: their fields along the direction
        extremes = plan.field_extremes()
        keys = [k for k, _ in extremes]
        vectors = np.array([[v * d for d in direction] for _, v in extremes]).reshape(-1, 3)
    if not len(keys):
        return
    limit = vector["limit"]
    excess = limit.excess(vectors)
    bad = np.flatnonzero(~(excess <= 1e-12))
    problem = ""
    if bad.size:
        k = int(bad[0])
        problem = f"outside the vector limit {limit.describe()}"
    else:
        for i, a in enumerate(AXES):
            name, ax = vector["axes"][a]
            over = np.flatnonzero(~(np.abs(vectors[:, i]) <= ax["max_field_T"] * (1 + 1e-12)))
            if over.size:
                k = int(over[0])
                problem = f"beyond the {a} axis's field limit ±{ax['max_field_T']:g} T ({name})"
                break
            over = np.flatnonzero(~(np.abs(vectors[:, i]) / ax["coil_constant_T_per_A"]
                                    <= ax["max_current_A"] * (1 + 1e-12)))
            if over.size:
                k = int(over[0])
                problem = f"beyond the {a} axis's current limit ±{ax['max_current_A']:g} A ({name})"
                break
    if problem:
        bx, by, bz = (float(v) for v in vectors[k])
        if plan.kind == "field_angle":
            polar, azimuth = m.angles_deg()
            at = f"at polar {polar[k]:g} deg, azimuth {azimuth[k]:g} deg the field ({bx:.6g}, {by:.6g}, {bz:.6g}) T"
            value = float(polar[k] if m.angle == "polar" else azimuth[k])
        else:
            at = f"the field ({bx:.6g}, {by:.6g}, {bz:.6g}) T along direction {[round(float(x), 6) for x in direction]}"
            value = None
        raise PlanError.at(where, keys[k], f"{at} is {problem} of {source}", value)


def _check_code_plan_steps(plan: Plan, where: str, instruments: dict, detectors: list[str],
                           source: str, src_limits: dict, lim) -> None:
    """What a plan written in Python sets beyond the field, step by step (the field itself is
    checked with the other kinds' above): temperatures, lock-in frequencies, persistent mode."""
    temperatures = plan.temperature_setpoints()
    if temperatures:
        thermometers = [d for d in detectors if instruments[d][0] == "thermometer"]
        if not thermometers:
            key, value = temperatures[0]
            raise PlanError.at(where, key, "the plan sets a temperature but no thermometer is among the "
                               "detectors", value, related=(("detectors",),))
        t_max = temperature_limit(instruments, thermometers, lim)
        key, high = max(temperatures, key=lambda kv: kv[1])
        if not high <= t_max:
            raise PlanError.at(where, key, f"temperature {high:g} K is above the limit {t_max:g} K", high)
    frequencies = plan.frequency_setpoints()
    if frequencies:
        lockins = [d for d in detectors if instruments[d][0] == "lockin"]
        if not lockins:
            key, value = frequencies[0]
            raise PlanError.at(where, key, "the plan sets a frequency but no lockin is among the detectors",
                               value, related=(("detectors",),))
        for key, f in (min(frequencies, key=lambda kv: kv[1]), max(frequencies, key=lambda kv: kv[1])):
            _check_frequency(where, key, f, instruments, lockins)
    from loopscope.daq.point_measurements import measurements_of, resolve_instrument
    try:
        measurements = measurements_of(plan.steps)
    except PlanError as exc:
        raise PlanError(f"{where}: {exc}") from None
    for m in measurements:
        name = resolve_instrument(m, where, instruments, detectors)
        m.check(f"{where}: {m.name}", name, instruments[name][1])
    persistent = [i for i, s in enumerate(plan.steps) if s.enter_persistent]
    if persistent and not src_limits.get("has_persistent_switch", False):
        raise PlanError.at(where, ("steps", persistent[0], "enter_persistent"), "enter_persistent needs a "
                           f"field source with a persistent switch; {source!r} has none", True,
                           shown_key=f"step {persistent[0]}", related=(("source",),))


def temperature_limit(instruments: dict, thermometers: list[str], lim) -> float:
    """The highest temperature a plan may ask for: the lowest max_temperature_K of the
    thermometers that would regulate it, and the plan's own limits.max_temperature_K."""
    station = min((float(instruments[t][1].get("max_temperature_K", math.inf)) for t in thermometers),
                  default=math.inf)
    return min(station, lim.max_temperature_K or math.inf)


def frequency_range(info: dict) -> tuple[float, float]:
    """The frequencies a lock-in may be set to: its station limits within its driver's range."""
    lo = max(float(info.get("min_frequency_Hz") or 0.0), float(info.get("driver_min_frequency_Hz") or 0.0))
    hi = min(float(info.get("max_frequency_Hz") or math.inf),
             float(info.get("driver_max_frequency_Hz") or math.inf))
    return lo, hi


def _check_frequency(where: str, key: tuple, f: float, instruments: dict, lockins: list[str],
                     what: str = "") -> None:
    """`key`: the key path of the frequency (a grid's outer value, a step's frequency_Hz ...)."""
    if not (math.isfinite(f) and f > 0):
        raise PlanError.at(where, key, f"{f!r} Hz is not a positive finite frequency", f)
    for name in lockins:
        lo, hi = frequency_range(instruments[name][1])
        if not lo <= f <= hi:
            shown = f"{what} {f:g} Hz" if what else f"{f:g} Hz is"
            raise PlanError.at(where, key, f"{shown} outside the range {lo:g}..{hi:g} Hz of {name}", f)


def _first_of_kind(instruments: dict, kind: str, name: str | None, where: str, key: tuple = (),
                   shown_key: str | None = None) -> str:
    """The instrument a part of the plan (at key path `key`) names, or the station's first of
    `kind`; PlanError when there is none or it is of another kind. (The runner's parts call it
    with `where` alone: the line then starts with `where`.)"""
    shown = format_key(key) if shown_key is None else shown_key
    if name is not None:
        if name not in instruments:
            raise PlanError.at(where, key, f"no instrument {name!r} in the station", name, shown_key=shown)
        if instruments[name][0] != kind:
            raise PlanError.at(where, key, f"{name!r} is a {instruments[name][0]}, not a {kind}", name,
                               shown_key=shown)
        return name
    for n, (k, _) in instruments.items():
        if k == kind:
            return n
    raise PlanError.at(where, key, f"needs a {kind} and the station has none", shown_key=shown)


def station_instruments(station) -> dict[str, tuple[str, dict]]:
    """A connected station as check_plan_against_station wants it: {name: (kind, limits)}."""
    out = {name: (role_kind(role), _limits_of(role)) for name, role in station.roles.items()}
    for name, role in station.roles.items():
        if getattr(role, "is_vector", False):
            axes = {a: (ax.name, out[ax.name][1]) for a, ax in role.axes.items()}
            _add_vector(out, name, role.limit, role.station_direction, axes)
    return out


def _add_vector(out: dict, name: str, limit, direction, axes: dict) -> None:
    """A vector magnet's entry: its limit, direction and axes; each axis marked as its."""
    info = out.setdefault(name, ("field_source", {}))[1]
    info.update({"max_field_T": limit.largest_magnitude_T, "max_current_A": math.inf,
                 "coil_constant_T_per_A": 1.0,
                 "max_ramp_rate_T_per_min": min(ax.get("max_ramp_rate_T_per_min", math.inf)
                                                for _, ax in axes.values()),
                 "has_persistent_switch": any(ax.get("has_persistent_switch") for _, ax in axes.values()),
                 "vector": {"limit": limit, "direction": tuple(direction), "axes": axes}})
    for a, (inst, ax) in axes.items():
        ax["vector_axis_of"] = (name, a)


def _limits_of(role: Role) -> dict:
    out: dict = {}
    limits = getattr(role, "limits", None)
    if limits is not None:
        for key in ("max_field_T", "max_current_A", "max_ramp_rate_T_per_min", "max_voltage_V"):
            if hasattr(limits, key):   # a field source's limits, or a source-meter's
                out[key] = getattr(limits, key)
    if hasattr(role, "coil_constant_T_per_A"):
        out["coil_constant_T_per_A"] = role.coil_constant_T_per_A
    out["has_persistent_switch"] = bool(getattr(role, "has_persistent_switch", False))
    if hasattr(role, "max_temperature_K"):
        out["max_temperature_K"] = role.max_temperature_K
    if role_kind(role) == "lockin":
        values = getattr(role, "limit_values", None) or {}
        for key in ("min_frequency_Hz", "max_frequency_Hz"):
            if values.get(key) is not None:
                out[key] = float(values[key])
        driver_range = getattr(getattr(role, "driver_cls", None), "FREQUENCY_RANGE_HZ", None)
        if driver_range is not None:
            out["driver_min_frequency_Hz"], out["driver_max_frequency_Hz"] = map(float, driver_range)
    return out



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
    for name, vm in getattr(config, "vector_magnets", {}).items():
        _add_vector(out, name, vm.limit, vm.direction, {a: (inst, out[inst][1]) for a, inst in vm.axes.items()})
    return out
