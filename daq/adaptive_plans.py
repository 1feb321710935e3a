"""Adaptive plans: steps steered by the readings.

    @plan(title="Find the resonance field", source="coil_supply", detectors=["lockin"],
          adaptive=True, max_points=200)
    def bisect_for_the_peak(low=0.0, high=0.05):
        reading = yield step(field=low)
        ...
        reading = yield step(field=(low + high) / 2)
        if reading["lockin_x_V"] > 0: ...

``yield step(...)`` gives the point's Reading back: {column: value} of its row, and its traces.
The steps cannot be listed before the run, so the engine checks each one as it comes, against
the station exactly as a whole plan is checked, before anything of that step is sent; a step
out of the limits ends the run as a plan error, in the safe state, with the points so far kept.
The first step cannot depend on a reading: it is checked before anything moves, and it shows
the run's shape (the measurements it takes; no later step may ask for a new one).

Resuming after a crash replays the plan: the generator gets the readings of the points already
on disk, and each replayed step must ask for what the file says that point asked for (a plan
that gives other steps for the same readings cannot be resumed, and says so).
"""
from __future__ import annotations

import math

import numpy as np

from loopscope.daq.plan_against_station import check_plan_against_station, station_instruments
from loopscope.daq.plans import Plan, PlanError


class AdaptivePlans:
    """A part of the Runner (daq/runner.py), which it mixes in: the methods use the runner's state."""

    def _run_adaptive(self, start_index: int, total: int) -> None:
        from loopscope.daq.plans_as_code import Reading, check_step, point_of

        function, arguments = self.plan.code_function
        model, target = self.plan.model, self.plan.origin
        instruments = station_instruments(self.station)
        known = {m.name: m for m in self._measurements}
        names = [c.name for c in self.writer.columns]
        replay = self._readings_on_disk(start_index) if start_index else []
        steps = function(**arguments)
        last_time, reading, n = -math.inf, None, 0
        while True:
            try:
                s = next(steps) if n == 0 else steps.send(reading)
            except StopIteration:
                return
            except Exception as exc:
                raise PlanError(f"{target}: the plan function failed at step {n}: "
                                f"{type(exc).__name__}: {exc}") from None
            if n >= model.max_points:
                message = (f"max_points {model.max_points} reached: the plan asked for more steps; "
                           f"the run ends here")
                self.writer.log("warning", message)
                self._emit_warning(message)
                steps.close()
                return
            last_time = check_step(n, s, model, target, last_time)
            for m in s.measure:
                if known.get(m.name) != m:
                    raise PlanError(f"{target}: step {n}: measure: {m.name!r} is not the measurement of "
                                    f"step 0 (an adaptive plan's first step shows every trace of the run)")
            # the step checked against the station as a one-step plan, before any of it is sent
            check_plan_against_station(Plan(model=model, origin=f"{target}: step {n}", steps=[s]),
                                       instruments)
            point = point_of(s, n)
            if n < start_index:
                reading = replay[n]
                self._check_replayed(point, reading, target)
                n += 1
                continue
            self._check_pause_and_abort()
            row, traces = self._do_point(point)
            self._points_done += 1
            self._progress(total)
            reading = Reading(dict(zip(names, row)), traces)
            n += 1

    def _readings_on_disk(self, count: int) -> list:
        """The Readings of the first `count` points in the file (a resumed run's replay)."""
        from loopscope.daq.plans_as_code import Reading

        columns, traces = self.writer.rows_on_disk(count)
        return [Reading({name: float(values[i]) for name, values in columns.items()},
                        {t: {sig: np.asarray(v[i]) for sig, v in signals.items()} for t, signals in traces.items()})
                for i in range(count)]

    def _check_replayed(self, point, reading, target: str) -> None:
        asked = reading.get("current_setpoint_A") if self.plan.model.axis == "current" else \
            reading.get("field_setpoint_T")
        if point.field is None or asked is None or math.isnan(asked):
            return
        if not math.isclose(point.field, asked, rel_tol=1e-9, abs_tol=1e-15):
            raise PlanError(f"{target}: step {point.index}: replaying the run asked for {point.field:g} where the "
                            f"file has {asked:g}: the plan does not give the same steps for the same readings, "
                            f"so it cannot be resumed in this file")

    def _emit_warning(self, message: str) -> None:
        from loopscope.daq.events import EventKind
        self._emit(EventKind.WARNING, message=message)
