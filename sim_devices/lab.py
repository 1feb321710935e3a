"""The simulated lab: one World, nine instruments on their own ports, fault injection."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from .clock import SimClock
from .config import (INSTRUMENT_NAMES, MAGNET_AXIS_OF_SLOT, MODEL_CHOICES,
                     ConfigError, lab_instrument_names, model_of)
from .faults import FaultManager
from .instruments.ami430 import AMI430
from .instruments.cryomagnetics4g import Cryomagnetics4G
from .instruments.keithley2182 import Keithley2182A
from .instruments.keithley2400 import Keithley2400
from .instruments.kepco_bop import KepcoBOP
from .instruments.keysight34465a import Keysight34465A
from .instruments.lakeshore336 import LakeShore336
from .instruments.lakeshore372 import LakeShore372
from .instruments.lakeshore425 import LakeShore425
from .instruments.lakeshore475 import LakeShore475
from .instruments.mercury_ips import MercuryIPS
from .instruments.mercury_itc import MercuryITC
from .instruments.squid_fll import SquidFLL
from .instruments.sr830 import SR830
from .instruments.ametek7270 import Ametek7270
from .instruments.sr860 import SR860, SR865A
from .serial_port import PTY_AVAILABLE, WHY_NO_PTY
from .server import LabServer
from .world import World

DEFAULT_BASE_PORT = 50401

#: slot -> {model key: twin class}; config.MODEL_CHOICES names the same keys, default first
MODEL_CLASSES = {
    "coil_supply": {"kepco_bop": KepcoBOP},
    "magnet_supply": {"ami430": AMI430, "cryomagnetics4g": Cryomagnetics4G,
                      "mercury_ips": MercuryIPS},
    "gaussmeter": {"lakeshore425": LakeShore425, "lakeshore475": LakeShore475},
    "nanovoltmeter": {"keithley2182a": Keithley2182A, "keysight34465a": Keysight34465A},
    "lockin": {"sr830": SR830, "ametek7270": Ametek7270},
    "lockin_sr860": {"sr860": SR860, "sr865a": SR865A},
    "temperature_controller": {"lakeshore336": LakeShore336, "lakeshore372": LakeShore372,
                               "mercury_itc": MercuryITC},
    "squid_controller": {"squid_fll": SquidFLL},
    "source_meter": {"keithley2400": Keithley2400},
    # a vector magnet's transverse axes (vector_magnet.enabled)
    "magnet_supply_x": {"ami430": AMI430},
    "magnet_supply_y": {"ami430": AMI430},
}
_PARAMS = {"gaussmeter": "gaussmeter", "nanovoltmeter": "nanovoltmeter", "lockin": "lockin",
           "lockin_sr860": "lockin", "source_meter": "source_meter"}


class SimulatedLab:
    """A physics-true simulated lab on loopback TCP ports.

    ``base_port=0`` (or None) picks free ports; otherwise ports base_port+0..+8 in the order of
    INSTRUMENT_NAMES. Use as a context manager or call start()/stop().

    ``serial`` (instrument names, added to the configuration's ``interfaces``) serves those
    instruments on serial pseudo-terminals instead: ``resources[name]`` is then
    ``ASRL/dev/pts/N::INSTR`` (their TCP port stays unused, so the others keep theirs). Where
    there are no ptys (Windows) they are served on TCP with a warning (``serial_skipped``).
    """

    def __init__(self, config: dict | str | Path | None = None, seed: int = 0, speed: float = 1.0,
                 host: str = "127.0.0.1", base_port: int | None = 0, serial=()):
        self.clock = SimClock(speed)
        self.world = World(config, seed=seed, clock=self.clock)
        #: the slots this lab serves, in port order (a vector magnet adds its x and y supplies)
        self.names = names = lab_instrument_names(self.world.config)
        highest = 65535 - (len(names) - 1)
        if base_port and not 1 <= base_port <= highest:
            raise ValueError(f"base port {base_port}: the {len(names)} instruments take ports "
                             f"base..base+{len(names) - 1}, so give 1..{highest} "
                             f"(or 0 for free ports)")
        self.seed = seed
        self.host = host
        self.base_port = base_port or 0
        self.faults = FaultManager(self.world, seed)
        # the nine slots' generators as before a vector magnet existed (the same seed gives the
        # same noise), the vector axes' after them
        children = np.random.SeedSequence([seed, 1]).spawn(len(INSTRUMENT_NAMES))
        if len(names) > len(INSTRUMENT_NAMES):
            children += np.random.SeedSequence([seed, 2]).spawn(len(names) - len(INSTRUMENT_NAMES))
        self.instruments = {}
        for name, ss in zip(names, children):
            cls = MODEL_CLASSES[name][model_of(self.world.config, name)]
            params = self.world.config.get(_PARAMS.get(name, ""), {})
            vector_axis = name in MAGNET_AXIS_OF_SLOT and name != "magnet_supply"
            if vector_axis:
                params = {**params, "axis": MAGNET_AXIS_OF_SLOT[name]}
            inst = cls(self.world, np.random.default_rng(ss), params)
            if vector_axis:
                inst.name = name
            self.instruments[name] = inst
        fll_ctrl = self.instruments["squid_controller"]
        self.world.fll_noise_source = lambda: fll_ctrl.noise(self.world.fll.flux_noise_phi0)
        for spec in self.world.config["faults"]:
            self.faults.add(spec, relative_to_now=False)
        self.server: LabServer | None = None
        interfaces = dict(self.world.config.get("interfaces", {}))
        for name in serial:
            if name not in names:
                raise ConfigError(f"serial: unknown instrument {name!r} (known: "
                                  f"{', '.join(names)})")
        interfaces.update({name: "serial" for name in serial})
        for name, kind in interfaces.items():
            if kind == "serial" and self.instruments[name].serial_port is None:
                raise ConfigError(f"interfaces.{name}: the lab has no serial port for the "
                                  f"{self.instruments[name].model} (serial: "
                                  f"{', '.join(self.serial_capable()) or 'none'})")
        #: instrument names served on a serial pty (once started)
        self.serial_names = [n for n in names if interfaces.get(n) == "serial"]
        #: those asked for serial but served on TCP (no ptys on this system), and why
        self.serial_skipped: dict[str, str] = {}
        if self.serial_names and not PTY_AVAILABLE:
            self.serial_skipped = {n: WHY_NO_PTY for n in self.serial_names}
            warnings.warn(f"serving {', '.join(self.serial_names)} on TCP, not serial: "
                          f"{WHY_NO_PTY}", RuntimeWarning, stacklevel=2)
            self.serial_names = []

    def serial_capable(self) -> list[str]:
        """The instruments the lab can serve on a serial port."""
        return [n for n in self.names if self.instruments[n].serial_port is not None]

    # ----------------------------------------------------------------- life cycle
    def start(self) -> "SimulatedLab":
        if self.server is not None:
            return self
        server = LabServer(self.host, self.faults)
        try:
            for i, name in enumerate(self.names):
                if name in self.serial_names:
                    server.add_serial(name, self.instruments[name])
                else:
                    server.add(name, self.instruments[name],
                               self.base_port + i if self.base_port else 0)
        except OSError:
            server.stop()
            raise
        server.start()
        self.server = server
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def __enter__(self) -> "SimulatedLab":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ----------------------------------------------------------------- information
    @property
    def resources(self) -> dict[str, str]:
        """Instrument name -> VISA resource string (only while running)."""
        if self.server is None:
            return {}
        return {name: self.server.resource(name) for name in self.server.names}

    @property
    def ports(self) -> dict[str, int]:
        """TCP port by instrument name (those served on TCP)."""
        if self.server is None:
            return {}
        return {name: self.server.port(name) for name in self.server.names
                if name not in self.serial_names}

    @property
    def interfaces(self) -> dict[str, str]:
        """Instrument name -> "serial" or "tcp", as served."""
        return {n: "serial" if n in self.serial_names else "tcp" for n in self.names}

    def serial_framing(self, name: str) -> dict:
        """What the client of a serial instrument set on its port (baud_rate, data_bits,
        parity, stop_bits, flow_control: a pty reports data bits and parity as 8, none), the
        instrument's own settings, and the port's counters (lines answered, rate_limited,
        garbled)."""
        if self.server is None or name not in self.serial_names:
            raise KeyError(f"{name!r} is not served on a serial port (serial: "
                           f"{', '.join(self.serial_names) or 'none'})")
        link = self.server.serial_link(name)
        return {"client": link.client_framing(), "instrument": dict(link.expected),
                "counters": dict(link.counters), "last_mismatch": link.last_mismatch}

    def describe(self) -> list[tuple[str, str, str]]:
        """(name, model, resource) for each instrument."""
        resources = self.resources
        return [(n, self.instruments[n].model, resources.get(n, "")) for n in self.names]

    # ----------------------------------------------------------------- command log
    def command_log(self) -> dict[str, list[str]]:
        """Instrument name -> the lines it received (the last 10 000 of each), in order."""
        return {name: [line for _, line in inst.command_log] for name, inst in self.instruments.items()}

    def clear_command_log(self) -> None:
        for inst in self.instruments.values():
            inst.command_log.clear()

    # ----------------------------------------------------------------- faults
    def inject_fault(self, instrument: str, kind: str, **params):
        """Add a fault now (after_s counts from now, in simulated seconds)."""
        return self.faults.add({"instrument": instrument, "kind": kind, **params})

    def clear_faults(self) -> None:
        self.faults.clear()
