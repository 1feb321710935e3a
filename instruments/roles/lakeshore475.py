"""The field probe role on a Lake Shore 475 DSP gaussmeter, read in tesla.

As the 425's role: UNIT? and RANGE? are read at connect (never set), and the present range's
full scale is kept as ``full_scale_T`` so ``loopscope station check`` compares it with the
field sources' max_field_T. The 475's full scale depends on its probe as well (TYPE?), and
the reading mode (RDGMODE?) must be DC: in RMS or peak mode RDGFIELD? is not the static field.
"""
from __future__ import annotations

from loopscope.instruments.connect_checks import ADAPTED, MISMATCH, NOTE, OK, Finding
from loopscope.instruments.roles import FieldProbe
from loopscope.instruments.visa_session import VisaRole

MODE_NAMES = {1: "DC", 2: "RMS", 3: "peak"}


class LakeShore475Probe(VisaRole, FieldProbe):
    """A Hall probe on a Lake Shore 475; reads in T whatever UNIT the front panel shows."""

    DRIVER = "loopscope.instruments.drivers.lakeshore475:LakeShore475"

    KIND = "field_probe"

    def read_settings(self, gm) -> list[Finding]:
        """UNIT?, TYPE? and RANGE? (its full scale), AUTO?, RDGMODE? (DC wanted)."""
        from loopscope.instruments.drivers.lakeshore475 import PROBE_TYPES, _gauss_text
        unit, type_code, range_index, auto = gm.unit, gm.probe_type, gm.range, gm.auto_range
        mode = gm.reading_mode
        full_scale_G = gm.full_scale_G(range_index, type_code)
        kind = PROBE_TYPES.get(type_code)
        findings = [Finding("field units", f"{unit} (UNIT?)", "tesla", ADAPTED)]
        if full_scale_G is None:
            # an unknown probe: no range check, said so rather than guessed
            self.full_scale_T = None
            findings.append(Finding("range", f"range {range_index} (RANGE?), probe type "
                                    f"{type_code} (TYPE?)", "", NOTE,
                                    f"probe type {type_code} is not one loopscope knows the "
                                    f"ranges of (HSE, HST, UHS): the range is not checked "
                                    f"against the field sources"))
        else:
            self.full_scale_T = full_scale_G * 1e-4
            findings.append(Finding(
                "range", f"range {range_index}: {_gauss_text(full_scale_G)} full scale "
                f"({kind} probe, RANGE? and TYPE?)", "", NOTE,
                f"the probe reads up to {self.full_scale_T:g} T on this range"
                + (" (auto range on: the instrument may change it)" if auto else "")
                + "; beyond it the probe shows OL (overload)"))
        mode_name = MODE_NAMES.get(mode[0], str(mode[0]))
        if mode[0] == 1:
            findings.append(Finding("reading mode", f"DC, {mode[1] + 2} digits (RDGMODE?)",
                                    "DC", OK))
        else:
            findings.append(Finding(
                "reading mode", f"{mode_name} (RDGMODE? {','.join(map(str, mode))})", "DC",
                MISMATCH, f"the gaussmeter measures in {mode_name} mode: RDGFIELD? is then not "
                f"the static field; set DC mode at its front panel (or RDGMODE 1,...)"))
        return findings

    def read_field_T(self) -> float:
        with self._io("read field") as gm:
            return gm.field_T

    def _ask_read_field_T(self, gm):
        scale = gm.tesla_per_unit  # UNIT? (once) before the question, not between it and its reply
        return gm, gm.READ_FIELD, lambda reply: gm.field_T_from_reply(reply, scale), None
