"""The simulated lab: one World, eight instruments on their own ports, fault injection."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .clock import SimClock
from .config import INSTRUMENT_NAMES
from .faults import FaultManager
from .instruments.ami430 import AMI430
from .instruments.keithley2182 import Keithley2182A
from .instruments.kepco_bop import KepcoBOP
from .instruments.lakeshore336 import LakeShore336
from .instruments.lakeshore425 import LakeShore425
from .instruments.squid_fll import SquidFLL
from .instruments.sr830 import SR830
from .instruments.sr860 import SR860
from .server import LabServer
from .world import World

DEFAULT_BASE_PORT = 50401

INSTRUMENT_CLASSES = {
    "coil_supply": KepcoBOP,
    "magnet_supply": AMI430,
    "gaussmeter": LakeShore425,
    "nanovoltmeter": Keithley2182A,
    "lockin": SR830,
    "lockin_sr860": SR860,
    "temperature_controller": LakeShore336,
    "squid_controller": SquidFLL,
}
_PARAMS = {"gaussmeter": "gaussmeter", "nanovoltmeter": "nanovoltmeter", "lockin": "lockin",
           "lockin_sr860": "lockin"}


class SimulatedLab:
    """A physics-true simulated lab on loopback TCP ports.

    ``base_port=0`` (or None) picks free ports; otherwise ports base_port+0..+7 in the order of
    INSTRUMENT_NAMES. Use as a context manager or call start()/stop().
    """

    def __init__(self, config: dict | str | Path | None = None, seed: int = 0, speed: float = 1.0,
                 host: str = "127.0.0.1", base_port: int | None = 0):
        highest = 65535 - (len(INSTRUMENT_NAMES) - 1)
        if base_port and not 1 <= base_port <= highest:
            raise ValueError(f"base port {base_port}: the {len(INSTRUMENT_NAMES)} instruments take ports "
                             f"base..base+{len(INSTRUMENT_NAMES) - 1}, so give 1..{highest} "
                             f"(or 0 for free ports)")
        self.seed = seed
        self.host = host
        self.base_port = base_port or 0
        self.clock = SimClock(speed)
        self.world = World(config, seed=seed, clock=self.clock)
        self.faults = FaultManager(self.world, seed)
        children = np.random.SeedSequence([seed, 1]).spawn(len(INSTRUMENT_NAMES))
        self.instruments = {}
        for name, ss in zip(INSTRUMENT_NAMES, children):
            cls = INSTRUMENT_CLASSES[name]
            params = self.world.config.get(_PARAMS.get(name, ""), {})
            self.instruments[name] = cls(self.world, np.random.default_rng(ss), params)
        fll_ctrl = self.instruments["squid_controller"]
        self.world.fll_noise_source = lambda: fll_ctrl.noise(self.world.fll.flux_noise_phi0)
        for spec in self.world.config["faults"]:
            self.faults.add(spec, relative_to_now=False)
        self.server: LabServer | None = None

    # ----------------------------------------------------------------- life cycle
    def start(self) -> "SimulatedLab":
        if self.server is not None:
            return self
        server = LabServer(self.host, self.faults)
        try:
            for i, name in enumerate(INSTRUMENT_NAMES):
                server.add(name, self.instruments[name], self.base_port + i if self.base_port else 0)
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
        if self.server is None:
            return {}
        return {name: self.server.port(name) for name in self.server.names}

    def describe(self) -> list[tuple[str, str, str]]:
        """(name, model, resource) for each instrument."""
        resources = self.resources
        return [(n, self.instruments[n].model, resources.get(n, "")) for n in INSTRUMENT_NAMES]

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
