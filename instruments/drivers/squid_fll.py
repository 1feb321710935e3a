"""SQUID flux-locked-loop controller: a new pymeasure driver (no stock driver exists).

No vendor publishes a socket command set for its FLL electronics, so this follows the small
SCPI-style set of docs/squid_fll_protocol.md: ``*IDN?``, ``GAIN`` (loop gain, 0.01..100),
``RF`` (feedback resistor, 100 ohm..1 Mohm), ``VPHI?`` (output volts per flux quantum h/2e),
``LOCK`` 0/1 and ``LOCK?``, ``RESET`` (zero the output at the present flux), ``JUMPS?``
(flux jumps since the last reset), ``OVLD?`` (output beyond its limit), ``VOUT?``; a SCPI
error queue (``SYST:ERR?``), read after every command that changes the controller.
"""
from __future__ import annotations

from pymeasure.instruments import Instrument, SCPIMixin
from pymeasure.instruments.validators import strict_discrete_set

from loopscope.instruments.drivers._base import LabInstrument, float_reply, strict_limit


class SquidFLL(LabInstrument, SCPIMixin, Instrument):
    """A SQUID flux-locked-loop controller."""

    IDN_PATTERN = r"SQUID|FLL"
    MODEL = "SQUID FLL controller"
    SNAPSHOT_PROPERTIES = ("gain", "feedback_ohm", "volts_per_phi0", "locked", "flux_jumps")

    def __init__(self, adapter, name="SQUID flux-locked-loop controller", **kwargs):
        kwargs.setdefault("read_termination", "\n")
        kwargs.setdefault("write_termination", "\n")
        super().__init__(adapter, name, **kwargs)

    gain = Instrument.control(
        "GAIN?", "GAIN %g", """Control the loop gain (dimensionless, 0.01 to 100).""",
        validator=strict_limit, values=(0.01, 100), get_process=float_reply("GAIN?"),
        check_set_errors=True)

    feedback_ohm = Instrument.control(
        "RF?", "RF %g", """Control the feedback resistor in ohm (100 ohm to 1 Mohm).""",
        validator=strict_limit, values=(100, 1e6), get_process=float_reply("RF?"),
        check_set_errors=True)

    flux_jumps = Instrument.measurement(
        "JUMPS?", """Get the number of flux jumps since the last reset.""",
        get_process=lambda v: int(float(v)))

    overloaded = Instrument.measurement(
        "OVLD?", """Get whether the loop output is beyond its limit (bool).""",
        get_process=lambda v: bool(int(float(v))))

    output_voltage = Instrument.measurement(
        "VOUT?", """Get the controller's own reading of its output in V.""",
        get_process=float_reply("VOUT?"))

    clock_speed = Instrument.measurement(
        "CLOCK:SPEED?", """Get the simulated lab's clock speed (simulated s per wall s).""",
        get_process=float_reply("CLOCK:SPEED?"))

    volts_per_phi0 = Instrument.measurement(
        "VPHI?", """Get the output sensitivity in V per flux quantum h/2e.""",
        get_process=float_reply("VPHI?"))

    locked = Instrument.control(
        "LOCK?", "LOCK %d", """Control whether the loop is locked (bool).""",
        validator=strict_discrete_set, values={True: 1, False: 0}, map_values=True, cast=int,
        check_set_errors=True)

    def reset(self) -> None:
        """Clear the integrator and re-lock (``RESET``)."""
        self.write("RESET")
        self.check_set_errors()
