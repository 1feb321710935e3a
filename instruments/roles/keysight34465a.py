"""The Keysight 34465A as the voltmeter of a flux readout (instruments/roles/squid_fll.py).

The 34465A serves no role of its own: it reads the flux-locked-loop output where a station has
no Keithley 2182A. What the flux readout asks of it at connect (queries only) and what it writes
before its first reading live here, so the flux readout only calls in.

At connect: the measurement function, trigger source, sample and trigger counts (READ? must
return one DC voltage: another function is not a voltage, TRIG:SOUR BUS makes READ? a -214
"Trigger deadlock", several samples several numbers), range or autorange, integration time and
the noise it means in flux quanta, autozero. A setting that would make the reading wrong is a
mismatch, unless the station gives ``voltmeter_range_V`` or ``voltmeter_nplc``: then the meter
is configured (CONF:VOLT:DC, NPLC) before the first reading, i.e. when a run starts reading, and
never at connect or by ``loopscope station check``.
"""
from __future__ import annotations

from loopscope.instruments.connect_checks import MISMATCH, NOTE, OK, WARNING, Finding


def configures(settings: dict) -> bool:
    """Whether the station asks loopscope to configure the meter before the first reading."""
    return settings.get("voltmeter_range_V") is not None or settings.get("voltmeter_nplc") is not None


def voltmeter_findings(dmm, settings: dict, volts_per_phi0: float | None) -> list[Finding]:
    """Queries only: what the meter is set to, compared with what the flux readout needs."""
    set_later = configures(settings)
    later = ("loopscope sets it (CONF:VOLT:DC, NPLC) before the first reading, as the "
             "station's voltmeter_range_V / voltmeter_nplc ask")
    fix = ("set the meter to DC volts, one reading per immediate trigger (CONF:VOLT:DC), or give "
           "voltmeter_nplc (and voltmeter_range_V) in the station's settings so that loopscope "
           "configures it before the first reading")

    def need(setting, reply, good, consequence):
        if good:
            return Finding(setting, reply, "", OK)
        if set_later:
            return Finding(setting, reply, "", NOTE, f"the meter answers {reply}: {later}")
        return Finding(setting, reply, "", MISMATCH,
                       f"the meter answers {reply}: {consequence}; {fix}")

    func = dmm.function
    source = dmm.trigger_source
    samples, triggers = dmm.sample_count, dmm.trigger_count
    findings = [
        need("voltmeter function", f'"{func}" (SENS:FUNC?)', func in ("VOLT", "VOLT:DC"),
             "its READ? would not be a DC voltage, and the flux computed from it would be wrong"),
        need("voltmeter trigger source", f"{source} (TRIG:SOUR?)", source.startswith("IMM"),
             "READ? waits for a trigger that never comes (the meter reports -214 Trigger deadlock)"),
        need("voltmeter readings per READ?", f"{samples} x {triggers} (SAMP:COUN?, TRIG:COUN?)",
             samples * triggers == 1, "READ? would return several numbers, not one reading"),
    ]
    autorange = dmm.autorange
    range_V = dmm.voltage_range
    nplc = dmm.nplc
    want_range = settings.get("voltmeter_range_V")
    want_nplc = settings.get("voltmeter_nplc")
    findings.append(Finding(
        "voltmeter range",
        ("autorange" if autorange else "fixed") + f", {range_V:g} V now (SENS:VOLT:DC:RANG?)",
        "" if not set_later else
        (f"voltmeter_range_V {want_range:g}" if want_range is not None else "autorange"), NOTE))
    use_nplc = want_nplc if want_nplc is not None else (10.0 if set_later else nplc)
    use_range = want_range if want_range is not None else range_V
    noise = (dmm.noise_V(use_range, use_nplc)
             if use_nplc in dmm.NPLCS and use_range in dmm.RANGES_V else None)
    flux = (f", {noise / volts_per_phi0:.2g} Phi0 at {volts_per_phi0:g} V/Phi0"
            if noise is not None and volts_per_phi0 else "")
    findings.append(Finding(
        "voltmeter integration time", f"{nplc:g} PLC (SENS:VOLT:DC:NPLC?)",
        f"voltmeter_nplc {want_nplc:g}" if want_nplc is not None else "", NOTE,
        "" if noise is None else
        f"{use_nplc:g} PLC on the {use_range:g} V range: resolution {noise:.2g} V per reading "
        f"(the Truevolt guide's ResFactor x range){flux}"))
    zero = dmm.autozero
    findings.append(Finding(
        "voltmeter autozero", ("on" if zero else "off") + " (SENS:VOLT:DC:ZERO:AUTO?)", "",
        OK if zero or set_later else WARNING,
        "" if zero or set_later else
        "autozero is off: the meter's offset drifts into the flux between zero measurements"))
    return findings


def prepare_voltmeter(dmm, settings: dict) -> bool:
    """Before the first reading: configure the meter if the station asks (returns whether it
    wrote anything). What the meter reported before is read and forgotten first, so the
    check after the writes blames only them."""
    if not configures(settings):
        return False
    nplc = settings.get("voltmeter_nplc")
    dmm.discard_stale_errors()
    dmm.configure_dc_voltage(settings.get("voltmeter_range_V"), 10.0 if nplc is None else nplc)
    return True
