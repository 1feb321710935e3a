"""Lake Shore 425 gaussmeter: pymeasure's LakeShore425 with a strict range and a reading in T.

The stock ``range`` rounds an unknown range up to the next one; here it refuses. The 425
reports an over-range reading as ``OL`` (what its front panel shows); ``field_T`` turns
that into an InstrumentError naming the range in use.
"""
from __future__ import annotations

from pymeasure.instruments import Instrument
from pymeasure.instruments.lakeshore import LakeShore425 as StockLakeShore425

from loopscope.instruments.drivers._base import LabInstrument, strict_choice, to_float
from loopscope.instruments.roles import InstrumentError

MU_0 = 1.25663706127e-6
#: tesla per unit of the instrument's UNIT setting (Oe and A/m as H in vacuum)
TESLA_PER_UNIT = {"G": 1e-4, "T": 1.0, "Oe": 1e-4, "A/m": MU_0}
#: full scale of each RANGE index in tesla, for messages (35 G ... 35 kG)
RANGE_FULL_SCALE_T = {35: 35e-4, 350: 350e-4, 3500: 0.35, 35000: 3.5}


class OverloadError(InstrumentError):
    """The probe reads beyond its range."""


class LakeShore425(LabInstrument, StockLakeShore425):
    """LakeShore 425 gaussmeter returning SI and raising on overload."""

    # "LSCI,MODEL425,4250022,1.0": the Model 425 manual (chapter 6, *IDN?: manufacturer, model,
    # serial, firmware); "LSCI,MODEL425,LSA425T,1.3" in simonsobs/socs's LS425 agent tests.
    # Other Lake Shore gaussmeters (421: "LSCI,MODEL421,0,070199"; 455, 475: other commands and
    # ranges) are refused.
    IDN_PATTERN = r"^LSCI\s*,\s*MODEL\s*425\s*,"
    IDN_EXPECTED = "'LSCI,MODEL425,...'"
    MODEL = "Lake Shore 425"
    ERROR_QUERY = "*ESR?"        # no error queue: CME/EXE in *ESR?
    ESR_ERROR_BITS = {32: "CME (command error)", 16: "EXE (execution error)",
                      4: "QYE (query error)"}
    SNAPSHOT_PROPERTIES = ("unit", "range", "mode")

    range = Instrument.control(
        "RANGE?", "RANGE %d",
        """Control the field range in G full scale: 35, 350, 3500 or 35000 (refuses others).""",
        validator=strict_choice,
        values={35: 1, 350: 2, 3500: 3, 35000: 4},
        map_values=True,
        cast=int,
        check_set_errors=True,
    )

    def __init__(self, adapter, name="LakeShore 425 Gaussmeter", **kwargs):
        kwargs.setdefault("read_termination", "\n")
        kwargs.setdefault("write_termination", "\n")
        super().__init__(adapter, name, **kwargs)
        self._unit_cache: str | None = None

    @property
    def tesla_per_unit(self) -> float:
        """Conversion of RDGFIELD? to T, from UNIT? (asked once, then cached)."""
        if self._unit_cache is None:
            self._unit_cache = self.unit
        return TESLA_PER_UNIT[self._unit_cache]

    def forget_unit(self) -> None:
        self._unit_cache = None

    def overload_message(self) -> str:
        try:
            full_scale = self.range
            span = f"the {full_scale} G range (±{RANGE_FULL_SCALE_T[full_scale]:g} T)"
        except Exception:  # the overload matters more than the range lookup
            span = "its present range"
        return f"{self.who()}: probe overload: the field exceeds {span}"

    READ_FIELD = "RDGFIELD?"

    @property
    def field_T(self) -> float:
        """Get the field in T. Raises OverloadError on an over-range reading."""
        scale = self.tesla_per_unit  # UNIT? once, before the reading's question
        return self.field_T_from_reply(self.ask(self.READ_FIELD), scale)

    def field_T_from_reply(self, reply: str, tesla_per_unit: float) -> float:
        reply = reply.strip()
        if "OL" in reply.upper():
            raise OverloadError(self.overload_message())
        return to_float(reply, self.READ_FIELD) * tesla_per_unit
