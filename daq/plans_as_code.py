"""Plans written in Python: a generator of steps, run by the same engine as the YAML kinds.

    # my_plan.py
    from loopscope.daq.plans_as_code import plan, step

    @plan(title="Field steps, twice each", source="coil_supply",
          detectors=["gaussmeter", "squid_controller"], labels=["repeat"])
    def steps_twice(fields=(0.0, 0.01, 0.02, 0.0)):
        for b in fields:
            for repeat in (1, 2):
                yield step(field=b, labels={"repeat": repeat})

    loopscope run my_plan.py:steps_twice --station lab.yaml

A step is one point of the run: what to set (field, temperature, lock-in frequency), when to
read (``at_elapsed_s``), what to do after the ramp (``enter_persistent``), and labels that go
into their own columns. The engine does the rest exactly as for the YAML kinds: the limits,
retries, suspenders, quench handling, pause/resume/abort, the safe state, events and the file.

A plan function is a description of its steps given its arguments: the engine runs it once
before anything moves, to check every step against the station's limits (a bad step touches
nothing) and to count the points, and again when the run goes, skipping the points already on
disk when a run is resumed after a crash; so it must give the same steps each time (no
readings, no clock, no random numbers without a fixed seed). The plan header (the keyword
arguments of ``@plan``) takes every key of a YAML plan's header: title, source, detectors,
settle, averaging, ramp_rate_T_per_min, end, limits, retries, temperature, suspenders, ...
and ``temperature_steps`` (tolerance, settle_s, heater_range: how a step's temperature is
reached, as a grid's outer temperature axis).
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import itertools
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Literal

from pydantic import Field, ValidationError

from loopscope.daq.plans import (MAX_POINTS, Plan, PlanError, Point, _PlanBase, _Strict,
                                 plan_problems)

#: "my_plan.py:iv_at_fields" or "package.module:function"
TARGET = re.compile(r"^(?P<where>.+?):(?P<name>[A-Za-z_]\w*)$")


class StepTemperature(_Strict):
    """How a step's temperature_K is reached (as a grid's outer temperature axis)."""

    tolerance: float | None = Field(default=None, gt=0)  # K: wait until within this
    settle_s: float = Field(default=0.0, ge=0)           # then wait this long (experiment time)
    heater_range: Literal["off", "low", "medium", "high"] | None = None


class CodePlanModel(_PlanBase):
    """The header of a plan written in Python (the keys of a YAML plan's header)."""

    kind: Literal["code"] = "code"
    function: str = ""                          # "file.py:name", recorded in the run file
    arguments: dict[str, Any] = {}
    labels: list[str] = Field(default_factory=list)   # extra columns the steps fill
    temperature_steps: StepTemperature = StepTemperature()
    #: the steps depend on the readings (``reading = yield step(...)``): they cannot be listed
    #: before the run, so each is checked against the station as it comes, and max_points bounds
    #: the run (required)
    adaptive: bool = False
    max_points: int | None = Field(default=None, ge=1, le=MAX_POINTS)


@dataclass(slots=True)   # not frozen: a frozen dataclass's __init__ costs 1 us a point more
class Step:
    field: float | None = None          # T (or A with axis: current); None: leave it
    temperature_K: float | None = None
    frequency_Hz: float | None = None   # every lock-in among the detectors
    at_elapsed_s: float | None = None   # read when the run's clock reaches this
    labels: dict | None = None
    enter_persistent: bool = False      # after the ramp: heater off, leads to zero
    measure: tuple = ()                 # array measurements at the point (daq/point_measurements.py)
    #: the cantilever's resonance found at the point (the resonance_tracking kind, which has the
    #: plan's `resonance` settings; not offered by step())
    find_resonance: bool = False
    #: a vector magnet's field (Bx, By, Bz), T (the field_angle kind; not offered by step())
    field_vector_T: tuple | None = None


def step(field: float | None = None, *, temperature_K: float | None = None,
         frequency_Hz: float | None = None, at_elapsed_s: float | None = None,
         labels: dict | None = None, enter_persistent: bool = False, measure=()) -> Step:
    """One point: set what is given, settle, take the measurements asked for (an I-V curve, a
    frequency scan: each a trace in the file), read every detector, record a row."""
    measure = tuple(measure) if isinstance(measure, (list, tuple)) else (measure,)
    return Step(field, temperature_K, frequency_Hz, at_elapsed_s,
                dict(labels) if labels else None, bool(enter_persistent), measure)


class Reading(dict):
    """What an adaptive plan gets back from ``reading = yield step(...)``: the point's row as
    {column: value} (field_T, flux_phi0, lockin_x_V, ...), and ``traces`` as
    {trace: {signal: array}} for the step's measurements."""

    def __init__(self, row: dict, traces: dict | None = None):
        super().__init__(row)
        self.traces = traces or {}


def plan(**header) -> Callable:
    """Mark a generator function as a plan; ``header``: the plan's keys (title required)."""
    def mark(function: Callable) -> Callable:
        if not inspect.isgeneratorfunction(function):
            raise TypeError(f"@plan: {function.__qualname__} must be a generator function "
                            f"(it yields step(...) for each point)")
        function.__loopscope_plan__ = dict(header)
        return function
    return mark


def is_code_plan_target(source) -> bool:
    """True for "file.py:function" (or a module path with :function) naming a plan function."""
    if not isinstance(source, (str, Path)) or "\n" in str(source):
        return False
    match = TARGET.match(str(source))
    if not match:
        return False
    where = match.group("where")
    return where.endswith(".py") or (not Path(where).suffix and "/" not in where
                                     and "\\" not in where and re.fullmatch(r"[\w.]+", where) is not None)


def load_code_plan(source, arguments: dict | None = None) -> Plan:
    """A Plan from "file.py:function", "module:function" or the decorated function itself."""
    if callable(source):
        function, target, file_text = source, _target_of(source), _source_text(source)
    else:
        function, target, file_text = _import_target(str(source))
    header = getattr(function, "__loopscope_plan__", None)
    if header is None:
        raise PlanError.at(target, (), "not a plan: decorate the generator function with "
                        f"@plan(title=...) from loopscope.daq.plans_as_code")
    given = dict(arguments or {})
    try:
        bound = inspect.signature(function).bind(**given)
    except TypeError as exc:
        raise PlanError.at(target, ("arguments",), str(exc), given) from None
    bound.apply_defaults()
    data = {**header, "kind": "code", "function": target, "arguments": dict(bound.arguments)}
    try:
        model = CodePlanModel.model_validate(data)
    except ValidationError as exc:
        raise PlanError(problems=plan_problems(exc, target)) from None
    if model.adaptive and model.max_points is None:
        raise PlanError.at(target, ("max_points",), "an adaptive plan needs max_points (its steps are "
                           "not known before the run)")
    if not model.adaptive and model.max_points is not None:
        raise PlanError.at(target, ("max_points",), "only for adaptive plans (the number of points of "
                           "this plan is known from its steps)", model.max_points)
    steps = _first_step(function, bound.arguments, model, target) if model.adaptive \
        else _steps_of(function, bound.arguments, model, target)
    import yaml
    text = yaml.safe_dump(model.model_dump(mode="json", exclude_defaults=True) | {"kind": "code"},
                          sort_keys=False)
    if file_text:
        text += f"# --- the plan's source ({target}) ---\n" + "".join(
            f"# {line}\n" for line in file_text.splitlines())
    return Plan(model=model, text=text, origin=target, steps=steps,
                code_function=(function, dict(bound.arguments)) if model.adaptive else None)


def points_of(steps: list[Step], start_index: int = 0) -> Iterator[Point]:
    for i, s in enumerate(itertools.islice(steps, start_index, None), start=start_index):
        yield point_of(s, i)


def point_of(s: Step, index: int) -> Point:
    # positional, in Point's field order: this is on the per-point path of every plan
    return Point(index, s.field, s.temperature_K, s.frequency_Hz, s.at_elapsed_s, s.labels,
                 _ENTER_PERSISTENT if s.enter_persistent else (), s.find_resonance, s.measure,
                 s.field_vector_T)


_ENTER_PERSISTENT = ("enter_persistent",)


# ---------------------------------------------------------------------------------- helpers
def _steps_of(function, arguments: dict, model: CodePlanModel, target: str) -> list[Step]:
    """Every step of the plan, checked: numbers finite, labels declared, times in order."""
    steps: list[Step] = []
    try:
        for n, s in enumerate(function(**arguments)):
            if n >= MAX_POINTS:
                raise PlanError.at(target, ("steps",), f"the plan gives more than {MAX_POINTS:,} points",
                                   shown_key="")
            steps.append(s)     # each is checked below (check_step)
    except PlanError:
        raise
    except Exception as exc:
        raise PlanError.at(target, (), f"the plan function failed while its steps were listed "
                        f"(before anything moved): {type(exc).__name__}: {exc}") from None
    if not steps:
        raise PlanError.at(target, ("steps",), "the plan gives no steps", shown_key="")
    last_time = -math.inf
    for n, s in enumerate(steps):
        last_time = check_step(n, s, model, target, last_time)
    from loopscope.daq.point_measurements import measurements_of
    try:
        measurements_of(steps)
    except PlanError as exc:
        raise PlanError.at(target, ("steps",), str(exc), shown_key="") from None
    return steps


def _first_step(function, arguments: dict, model: CodePlanModel, target: str) -> list[Step]:
    """An adaptive plan's first step (it cannot depend on a reading): checked, and the shape of
    the run (its measurements, whether it sets temperatures) is taken from it."""
    try:
        first = next(function(**arguments))
    except StopIteration:
        raise PlanError(f"{target}: the plan gives no steps") from None
    except Exception as exc:
        raise PlanError(f"{target}: the plan function failed before its first step "
                        f"(before anything moved): {type(exc).__name__}: {exc}") from None
    check_step(0, first, model, target, -math.inf)
    return [first]


def check_step(n: int, s: Step, model: CodePlanModel, target: str, last_time: float) -> float:
    """One step checked on its own: numbers finite, labels declared, times in order, the
    measurements known. Returns the step's time (for the next step's order check)."""
    if not isinstance(s, Step):
        raise PlanError.at(target, ("steps", n), f"yielded {type(s).__name__} {s!r:.60}; a "
                           f"plan yields step(...) for each point", s)
    for key in ("field", "temperature_K", "frequency_Hz", "at_elapsed_s"):
        value = getattr(s, key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value):
            raise PlanError.at(target, ("steps", n, key), f"{value!r} is not a finite number", value)
    if s.temperature_K is not None and not s.temperature_K > 0:
        raise PlanError.at(target, ("steps", n, "temperature_K"), f"{s.temperature_K:g} K; temperatures "
                           f"must be above 0 K", s.temperature_K)
    if s.frequency_Hz is not None and not s.frequency_Hz > 0:
        raise PlanError.at(target, ("steps", n, "frequency_Hz"), f"{s.frequency_Hz:g} Hz must be positive",
                           s.frequency_Hz)
    if s.at_elapsed_s is not None:
        if s.at_elapsed_s < last_time:
            raise PlanError.at(target, ("steps", n, "at_elapsed_s"), f"{s.at_elapsed_s:g} s is before "
                               f"the previous step's {last_time:g} s", s.at_elapsed_s)
        last_time = s.at_elapsed_s
    declared = set(model.labels)
    for label, value in (s.labels or {}).items():
        if label not in declared:
            raise PlanError.at(target, ("steps", n, "labels"), f"{label!r} is not declared in "
                               f"@plan(labels=...) (declared: {', '.join(sorted(declared)) or 'none'})", label)
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value):
            raise PlanError.at(target, ("steps", n, "labels", label), f"{value!r} is not a finite number",
                               value)
    from loopscope.daq.point_measurements import FrequencyScan, IVCurve
    for m in s.measure:
        if not isinstance(m, (IVCurve, FrequencyScan)):
            raise PlanError.at(target, ("steps", n, "measure"), f"{m!r:.60} is not a measurement; use "
                               f"iv_curve(...) or frequency_scan(...)", m)
    return last_time


def _import_target(target: str):
    match = TARGET.match(target)
    if not match:
        raise PlanError.at(target, (), "a plan in Python is named FILE.py:FUNCTION or MODULE:FUNCTION")
    where, name = match.group("where"), match.group("name")
    if where.endswith(".py"):
        module, file_text = _import_file(Path(where), target)
    else:
        try:
            module = importlib.import_module(where)
        except Exception as exc:
            raise PlanError.at(target, (), f"importing {where} failed: {type(exc).__name__}: {exc}") from None
        file_text = _source_text(module)
    function = getattr(module, name, None)
    if function is None:
        raise PlanError.at(target, (), f"{where} has no function {name!r}", name)
    return function, target, file_text


def _import_file(path: Path, target: str):
    """(module, its source text) of a plan file, imported afresh (it may have been edited)."""
    if not path.is_file():
        raise PlanError.at(target, (), f"no such file {path}", str(path))
    module_name = f"loopscope_user_plan_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(module_name, None)
        raise PlanError.at(target, (), f"importing {path} failed: {type(exc).__name__}: {exc}") from None
    return module, path.read_text(encoding="utf-8", errors="replace")


def plan_functions_in(path) -> dict[str, Callable]:
    """The @plan functions a plan file defines, {name: function} in the file's order (what the
    window offers when a .py file is loaded). Raises PlanError when the file cannot be imported."""
    path = Path(path)
    module, _ = _import_file(path, str(path))
    return {name: obj for name, obj in vars(module).items()
            if callable(obj) and hasattr(obj, "__loopscope_plan__")
            and getattr(obj, "__module__", None) == module.__name__}


def _target_of(function) -> str:
    module = sys.modules.get(function.__module__)
    file = getattr(module, "__file__", None)
    if function.__module__.startswith("loopscope_user_plan_") and file:
        return f"{file}:{function.__name__}"
    return f"{function.__module__}:{function.__qualname__}"


def _source_text(obj) -> str:
    try:
        return inspect.getsource(sys.modules[obj.__module__] if callable(obj) else obj)
    except (OSError, TypeError, KeyError):
        return ""
