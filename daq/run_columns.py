"""The columns of a run file: the source's own, each detector's quantities, the plan's labels and
setpoints; which column is the signal and which the axis; and where each value goes in a row.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from loopscope.daq.storage import Column
from loopscope.instruments.roles import Role, role_kind

if TYPE_CHECKING:
    from loopscope.daq.runner import Runner

# role kind -> the quantities it contributes at every point, (name, units, long name)
DETECTOR_QUANTITIES = {
    "field_probe": [("probe_field_T", "T", "field measured by the Hall probe")],
    "flux_readout": [("flux_phi0", "Phi0", "SQUID flux in units of h/2e")],
    "lockin": [("lockin_x_V", "V", "lock-in X"), ("lockin_y_V", "V", "lock-in Y"),
               ("frequency_Hz", "Hz", "lock-in reference frequency")],
    "thermometer": [("temperature_K", "K", "sample temperature")],
    # measured through step(measure=[iv_curve(...)]), a trace per point: no scalar of its own
    "source_meter": [],
}
# quantity -> the role method that reads it (lock-in X and Y come from one read_xy_V)
READ_METHOD = {"probe_field_T": "read_field_T", "flux_phi0": "read_flux_phi0", "frequency_Hz": "read_frequency_Hz",
               "temperature_K": "read_temperature_K"}


class RowLayout:
    """Where each value goes in a point's row, worked out once per run (the per-point path
    then indexes a list instead of looking names up)."""

    def __init__(self, runner: "Runner"):
        col = runner.writer.column_index
        self.width = len(col)
        self.field_setpoint, self.field = col["field_setpoint_T"], col["field_T"]
        self.current = col.get("current_A")
        #: a vector magnet's setpoint columns (x, y, z), or None
        self.vector_setpoint = (tuple(col[f"field_setpoint_{a}_T"] for a in "xyz")
                                if runner.vector_source else None)
        self.current_setpoint = col.get("current_setpoint_A")
        self.magnet_current = col.get("magnet_current_A")
        self.resonance = col.get("resonance_frequency_Hz")
        self.temperature_setpoint = col.get("temperature_setpoint_K")
        self.labels = {name: col[name] for name in runner.plan.label_columns()}
        self.readings = runner.plan.model.averaging.readings
        # Asked together (every question out before the first answer is read): the source's
        # field and current, and each detector's single reading, one per instrument, where
        # the role can split its exchange. Single readings of roles that cannot (in-memory
        # ones, an unknown voltmeter) are plain calls: asking them "together" gains nothing.
        # The rest (averaged readings, lock-in X/Y pairs, a second quantity of one
        # instrument) are read one after another.
        source = runner.source
        if runner.vector_source:
            # the field along the direction, the three fields and the three currents
            vector_slots = (self.field, *(col[f"field_{a}_T"] for a in "xyz"),
                            *(col[f"current_{a}_A"] for a in "xyz"))
            single: list[tuple[Role, str, tuple[int, ...]]] = [(source, "read_vector_row", vector_slots)]
        else:
            single = [(source, "read_field_and_current", (self.field, self.current))]
        self.readers = []
        asked = {id(source)}
        for name, role, q in runner._readers:
            if (self.readings == 1 and q in READ_METHOD and q != "frequency_Hz"
                    and id(role) not in asked):
                asked.add(id(role))
                single.append((role, READ_METHOD[q], (col[name],)))
            else:
                self.readers.append((col[name], role, q))
        split = [job for job in single if job[0].can_split_read(job[1])]
        self.together = split if len(split) > 1 else []
        self.direct = [(role, getattr(role, method), slots) for role, method, slots in single
                       if (role, method, slots) not in self.together]


class RunColumns:
    """A part of the Runner (daq/runner.py), which it mixes in: the methods use the runner's state."""

    def _plan_columns(self) -> tuple[list[Column], list[tuple[str, Role, str]]]:
        cols = [Column("field_setpoint_T", "T", "field asked for by the plan")]
        if self.plan.model.axis == "current":
            cols.append(Column("current_setpoint_A", "A", "coil current asked for by the plan"))
        if self.vector_source:
            # a vector magnet: the field along the plan's direction (a field-angle sweep: the
            # magnitude asked for, and the field along it), then each axis's
            cols += [Column(f"field_setpoint_{a}_T", "T", f"{a} component of the field asked for")
                     for a in "xyz"]
            cols += [Column("field_T", "T", "field along the direction asked for, B.d")]
            cols += [Column(f"field_{a}_T", "T", f"{a} component reported by its supply ({ax.name})")
                     for a, ax in self.source.axes.items()]
            cols += [Column(f"current_{a}_A", "A", f"{a} supply output current ({ax.name})")
                     for a, ax in self.source.axes.items()]
        else:
            cols += [Column("field_T", "T", "field reported by the source"),
                     Column("current_A", "A", "supply output current")]
        if self.source.has_persistent_switch and not self.vector_source:
            cols.append(Column("magnet_current_A", "A", "current in the magnet"))
        readers = []
        taken = {c.name for c in cols}
        for name, role in self.detectors.items():
            kind = role_kind(role)
            for q, units, long_name in DETECTOR_QUANTITIES[kind]:
                col = q if q not in taken else f"{name}_{q}"
                taken.add(col)
                cols.append(Column(col, units, f"{long_name} ({name})"))
                readers.append((col, role, q))
        if self.plan.kind == "resonance_tracking":
            cols.append(Column("resonance_frequency_Hz", "Hz", "cantilever resonance found at this field"))
        if self.plan.kind == "grid" and self.plan.model.outer.quantity == "temperature":
            cols.append(Column("temperature_setpoint_K", "K", "outer-loop temperature setpoint"))
        if self.plan.kind == "code" and (self.plan.temperature_setpoints() or (
                # an adaptive plan's later steps may set a temperature its first does not
                self.plan.adaptive and any(role_kind(r) == "thermometer" for r in self.detectors.values()))):
            cols.append(Column("temperature_setpoint_K", "K", "temperature setpoint of the step"))
        for label in self.plan.label_columns():
            units, long_name = ("deg", label[:-4] + " angle of the field") if label.endswith("_deg") else \
                ("1", label.replace("_", " "))
            cols.append(Column(label, units, long_name))
        return cols, readers

    def _signal_and_axes(self) -> tuple[str, list[str]]:
        names = [c.name for c in self._columns]
        for candidate in ("flux_phi0", "resonance_frequency_Hz", "lockin_x_V", "probe_field_T", "temperature_K"):
            if candidate in names:
                signal = candidate
                break
        else:
            signal = "field_T"
        axis = "elapsed_s" if self.plan.kind in ("time_series", "persistent_step") else "field_T"
        if self.plan.kind == "field_angle":
            axis = f"{self.plan.model.angle}_deg"
        if self.plan.kind == "code" and not self.plan.field_extremes():
            axis = "elapsed_s"     # a plan in Python that never sets the field
        if self.plan.kind == "grid" and self.plan.model.outer.quantity == "frequency" and signal == "lockin_x_V":
            axis = "field_T"
        return signal, [axis]
