"""The interfaces a station's instruments are reached by, and the VISA options each takes.

A resource string names its interface: ``TCPIP0::host::port::SOCKET`` (LAN socket),
``GPIB0::8::INSTR`` (GPIB address 8), ``ASRL3::INSTR``, ``ASRLCOM3::INSTR`` or
``ASRL/dev/ttyUSB0::INSTR`` (RS-232, USB-serial), ``USB0::0x05E6::0x2182::<serial>::INSTR``
(USBTMC). A station file's instrument may add, next to ``resource``:

- on a serial (ASRL) resource: ``baud_rate``, ``data_bits`` (5..8), ``parity`` (none, odd,
  even, mark, space), ``stop_bits`` (1, 1.5, 2), ``flow_control`` (none, xon_xoff, rts_cts,
  dtr_dsr);
- on any resource: ``read_termination``, ``write_termination``: CR, LF, CRLF, LFCR or none
  (or the characters themselves, "\\r\\n").

Options a station leaves out come from the model's factory settings (``MODEL_DEFAULTS``, from
the manuals; see docs/interfaces.md), then from the driver's own defaults. ``check_options``
validates them (the station file's pass 1); ``open_kwargs`` gives the keywords the driver (and
so pyvisa's ``open_resource``) is opened with. ``message_gap_s`` among them is loopscope's own:
the driver waits that long after each exchange before the next (``pace_session``), for an
instrument whose interface loses messages sent sooner (the Lake Shore 425).

Everything about interfaces lives here, so the role and station code only call in.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Mapping

#: serial framing keys (an ASRL resource only)
SERIAL_KEYS = ("baud_rate", "data_bits", "parity", "stop_bits", "flow_control")
#: message terminator keys (any resource)
TERMINATION_KEYS = ("read_termination", "write_termination")
#: every option key a station file's instrument may carry
OPTION_KEYS = SERIAL_KEYS + TERMINATION_KEYS

PARITIES = ("none", "odd", "even", "mark", "space")
STOP_BITS = (1, 1.5, 2)
FLOW_CONTROLS = ("none", "xon_xoff", "rts_cts", "dtr_dsr")
DATA_BITS = (5, 6, 7, 8)
#: terminator names -> the characters
TERMINATORS = {"CR": "\r", "LF": "\n", "CRLF": "\r\n", "LFCR": "\n\r", "NONE": ""}
#: the interfaces a station may name (pyvisa's interface_type of the resource string)
INTERFACES = ("TCPIP", "GPIB", "ASRL", "USB")

#: The model's own settings, per interface, from its manual (docs/interfaces.md says where
#: each comes from). Keys are the drivers' MODEL names. A serial port's baud rate and framing
#: are front-panel settings on most of these units: these are the factory ones.
MODEL_DEFAULTS: dict[str, dict[str, dict[str, Any]]] = {
    "SR830": {
        # chapter 5: replies end with <cr> on RS-232, with <lf> (and EOI) on GPIB; 9600 8N1
        # assumed (the manual's SETUP defaults were not read)
        "ASRL": {"baud_rate": 9600, "data_bits": 8, "parity": "none", "stop_bits": 1,
                 "flow_control": "none", "read_termination": "\r", "write_termination": "\r"},
    },
    "Ametek 7270": {
        # 7270 manual 6.3-6.5: on USB and Ethernet every response ends with a NUL (pymeasure's
        # Ametek7270 framing, commands NUL-terminated too); on RS-232 responses end with CR LF.
        # The RS command offers 7 or 8 data bits, parity on/off, even/odd: the factory
        # setting was not in the pages read, 9600 baud 7E1 is assumed (as the simulated lab)
        "TCPIP": {"read_termination": "\x00", "write_termination": "\x00"},
        "USB": {"read_termination": "\x00", "write_termination": "\x00"},
        "ASRL": {"baud_rate": 9600, "data_bits": 7, "parity": "even", "stop_bits": 1,
                 "flow_control": "none", "read_termination": "\r\n", "write_termination": "\r"},
    },
    "Keithley 2182A": {
        # 8 data bits, 1 stop bit, no parity (fixed); 9600 baud factory; commands processed
        # on <CR>; the reply terminator is a menu choice (CR set here, as the simulated lab)
        "ASRL": {"baud_rate": 9600, "data_bits": 8, "parity": "none", "stop_bits": 1,
                 "flow_control": "none", "read_termination": "\r", "write_termination": "\r"},
    },
    "Keysight 34465A": {
        # Truevolt guide, remote interfaces: LAN (socket port 5025, VXI-11, HiSLIP), USB-TMC,
        # GPIB (option): commands and replies end with LF on each. No RS-232 port: a station
        # naming an ASRL resource for it is refused (Keysight34465A.INTERFACES, station.py)
        "TCPIP": {"read_termination": "\n", "write_termination": "\n"},
        "USB": {"read_termination": "\n", "write_termination": "\n"},
        "GPIB": {"read_termination": "\n", "write_termination": "\n"},
    },
    "Keithley 2400": {
        # 2400 manual 14-17..14-18: 8 data bits, 1 stop, no parity; 9600 baud factory; flow
        # control none (XON/XOFF selectable); its reply terminator a menu choice, CR factory
        "ASRL": {"baud_rate": 9600, "data_bits": 8, "parity": "none", "stop_bits": 1,
                 "flow_control": "none", "read_termination": "\r", "write_termination": "\r"},
    },
    "Kepco BOP 36-12": {
        # 8N1, XON/XOFF on by default; lines parsed on CR or LF and answered with CR LF; the
        # baud rate is a front-panel choice (9600 assumed)
        "ASRL": {"baud_rate": 9600, "data_bits": 8, "parity": "none", "stop_bits": 1,
                 "flow_control": "xon_xoff", "read_termination": "\r\n",
                 "write_termination": "\n"},
    },
    "Cryomagnetics 4G": {
        # RS-232 9600 baud 8N1, CR LF both ways, every command line echoed (the driver reads
        # the echo back): from mr_freeze's InstrumentKit driver, the manual not found.
        # GPIB and Ethernet: LF as QCoDeS's driver sends, replies end with CR LF
        "ASRL": {"baud_rate": 9600, "data_bits": 8, "parity": "none", "stop_bits": 1,
                 "flow_control": "none", "read_termination": "\r\n",
                 "write_termination": "\r\n"},
        "TCPIP": {"read_termination": "\r\n", "write_termination": "\r\n"},
        "GPIB": {"read_termination": "\r\n", "write_termination": "\n"},
    },
    "Oxford Instruments Mercury iPS": {
        # Operator's Manual 10.3.1: command lines end with LF (the replies too, as QCoDeS reads
        # them); the LAN socket is port 7020 (QCoDeS, Lab::Measurement). The RS-232 framing
        # was not in the pages read: no serial defaults
        "TCPIP": {"read_termination": "\n", "write_termination": "\n"},
        "GPIB": {"read_termination": "\n", "write_termination": "\n"},
    },
    "Lake Shore 372": {
        # Model 372 manual 6.3: USB as a virtual serial port, 57600 baud, 7 data bits, odd
        # parity, 1 stop bit, CR LF; 6.3.5: 50 ms of quiet after each message, at most 20 a
        # second (5 ms of margin here for the host's scheduling)
        "ASRL": {"baud_rate": 57600, "data_bits": 7, "parity": "odd", "stop_bits": 1,
                 "flow_control": "none", "read_termination": "\r\n",
                 "write_termination": "\r\n", "message_gap_s": 0.055},
    },
    "Oxford Instruments Mercury iTC": {
        # Mercury iTC manual 10.3.1: SCPI lines end with LF, on every interface. RS-232 (and the
        # USB port, a virtual serial port): 57600 baud, 8 data bits, no parity, 2 stop bits, no
        # handshake, as ISIS's IOC (ISISComputingGroup/EPICS-MercuryiTC) opens a real unit; the
        # manual's RS-232 settings page was not found
        "ASRL": {"baud_rate": 57600, "data_bits": 8, "parity": "none", "stop_bits": 2,
                 "flow_control": "none", "read_termination": "\n", "write_termination": "\n"},
        "TCPIP": {"read_termination": "\n", "write_termination": "\n"},
        "GPIB": {"read_termination": "\n", "write_termination": "\n"},
    },
    "Lake Shore 425": {
        # USB-serial: 57600 baud, 7 data bits, odd parity, 1 stop, CR LF; manual 6.2.5: 30 ms
        # of quiet after each exchange (5 ms of margin here for the host's scheduling)
        "ASRL": {"baud_rate": 57600, "data_bits": 7, "parity": "odd", "stop_bits": 1,
                 "flow_control": "none", "read_termination": "\r\n",
                 "write_termination": "\r\n", "message_gap_s": 0.035},
    },
    "Lake Shore 475": {
        # Model 475 manual ch. 6: two interfaces, IEEE-488 (6.1) and RS-232 (6.2), one in use at
        # a time, no LAN. Serial: 9600 baud (300 and 1200 the other choices), 7 data bits, odd
        # parity, 1 stop bit, no handshake, as the Lake Shore gaussmeters of its generation (the
        # 460 manual's table 4-4) and the 475 readers in public lab code (hyptpc/pg-monitor:
        # 9600, PARITY_ODD, bytesize 7) have it; replies end with CR LF (the 6.2 page itself
        # could not be read). GPIB: CR LF terminators (the factory IEEE terminator setting).
        "ASRL": {"baud_rate": 9600, "data_bits": 7, "parity": "odd", "stop_bits": 1,
                 "flow_control": "none", "read_termination": "\r\n",
                 "write_termination": "\r\n"},
        "GPIB": {"read_termination": "\r\n", "write_termination": "\r\n"},
    },
}


class InterfaceOptionError(ValueError):
    """A resource string or option that cannot be used; the message names key and value."""


def interface_of(resource: str) -> str:
    """"TCPIP", "GPIB", "ASRL", "USB", ... for a VISA resource string (ValueError if none)."""
    from pyvisa import rname
    return str(rname.parse_resource_name(resource).interface_type)


def _termination(value, where: str) -> str:
    if not isinstance(value, str):
        raise InterfaceOptionError(f"{where} = {value!r} must be one of "
                                   f"{', '.join(TERMINATORS)} (or the characters, \"\\r\\n\")")
    # a YAML single-quoted '\r\n' arrives as backslash sequences: take them as meant
    text = value.replace("\\r", "\r").replace("\\n", "\n")
    if text.upper() in TERMINATORS:
        return TERMINATORS[text.upper()]
    if text in TERMINATORS.values():
        return text
    raise InterfaceOptionError(f"{where} = {value!r} must be one of {', '.join(TERMINATORS)} "
                               f"(or the characters, \"\\r\\n\")")


def check_options(entry: Mapping[str, Any], resource: str, where: str) -> dict:
    """The interface options of one station entry, checked against its resource.

    ``where`` names the instrument (``instrument 'gaussmeter'``) for the message."""
    try:
        interface = interface_of(resource)
    except Exception as exc:  # the resource check reports this one better
        raise InterfaceOptionError(f"{where}.resource = {resource!r}: {exc}") from None
    if interface not in INTERFACES:
        raise InterfaceOptionError(f"{where}.resource = {resource!r}: interface {interface} is "
                                   f"not one loopscope drives ({', '.join(INTERFACES)})")
    out: dict[str, Any] = {}
    for key in OPTION_KEYS:
        if key not in entry:
            continue
        value = entry[key]
        here = f"{where}.{key}"
        if key in SERIAL_KEYS and interface != "ASRL":
            raise InterfaceOptionError(f"{here} = {value!r}: only a serial (ASRL) resource takes "
                                       f"{key}; {resource!r} is {interface}")
        if key == "baud_rate":
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise InterfaceOptionError(f"{here} = {value!r} must be a positive integer "
                                           f"(e.g. 9600)")
        elif key == "data_bits":
            if isinstance(value, bool) or value not in DATA_BITS:
                raise InterfaceOptionError(f"{here} = {value!r} must be one of {list(DATA_BITS)}")
        elif key == "parity":
            if value not in PARITIES:
                raise InterfaceOptionError(f"{here} = {value!r} must be one of {list(PARITIES)}")
        elif key == "stop_bits":
            if isinstance(value, bool) or value not in STOP_BITS:
                raise InterfaceOptionError(f"{here} = {value!r} must be one of {list(STOP_BITS)}")
        elif key == "flow_control":
            if value not in FLOW_CONTROLS:
                raise InterfaceOptionError(f"{here} = {value!r} must be one of "
                                           f"{list(FLOW_CONTROLS)}")
        else:
            value = _termination(value, here)
        out[key] = value
    return out


def _pyvisa_value(key: str, value):
    """A station option as pyvisa's attribute takes it."""
    from pyvisa import constants
    if key == "parity":
        return constants.Parity[value]
    if key == "stop_bits":
        return {1: constants.StopBits.one, 1.5: constants.StopBits.one_and_a_half,
                2: constants.StopBits.two}[value]
    if key == "flow_control":
        return {"none": constants.VI_ASRL_FLOW_NONE, "xon_xoff": constants.VI_ASRL_FLOW_XON_XOFF,
                "rts_cts": constants.VI_ASRL_FLOW_RTS_CTS,
                "dtr_dsr": constants.VI_ASRL_FLOW_DTR_DSR}[value]
    return value


def open_kwargs(role, driver_cls: type, resource: str) -> dict:
    """The keywords ``driver_cls(resource, ...)`` is opened with for this resource: the
    model's defaults for the interface, overridden by the station file's options (which
    instruments.station.build_roles leaves on the role as ``station_visa_options``)."""
    try:
        interface = interface_of(resource)
    except Exception:
        return {}           # a resource pyvisa cannot parse fails where it is opened
    model = getattr(driver_cls, "MODEL", "")
    merged = dict(MODEL_DEFAULTS.get(model, {}).get(interface, {}))
    merged.update((getattr(role, "station_visa_options", None) or {}).get(resource, {}))
    return {key: _pyvisa_value(key, value) for key, value in merged.items()}


def pace_session(session, gap_s: float) -> None:
    """Make a pyvisa session wait ``gap_s`` after each exchange (a write, or a read's end)
    before it writes again. The wrappers sit on the session itself, so the drivers' own
    writes and the roles' split reads (instruments.visa_session._SplitRead) are paced alike."""
    state = {"last": float("-inf")}
    lock = threading.Lock()
    write, read = session.write, session.read

    def paced_write(*args, **kwargs):
        with lock:
            wait = state["last"] + gap_s - time.monotonic()
        if wait > 0:
            time.sleep(wait)   # the instrument's interface is deaf until then
        try:
            return write(*args, **kwargs)
        finally:
            with lock:
                state["last"] = time.monotonic()

    def paced_read(*args, **kwargs):
        try:
            return read(*args, **kwargs)
        finally:
            with lock:
                state["last"] = time.monotonic()

    session.write, session.read = paced_write, paced_read
