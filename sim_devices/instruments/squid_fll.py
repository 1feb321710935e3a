"""SQUID flux-locked-loop controller. No vendor publishes a socket command set for its FLL
electronics (Magnicon and STAR Cryoelectronics ship closed PC software), so this one speaks a
small SCPI-style set documented in docs/squid_fll_protocol.md."""
from __future__ import annotations

from .base import CommandError, SimInstrument


class SquidFLL(SimInstrument):
    name = "squid_controller"
    model = "loopscope SimFLL-1"
    idn = "LOOPSCOPE,SIMFLL-1,FLL000123,1.0"
    reply_termination = "\n"

    def setup(self):
        fll = self.world.fll
        self.default_rf = fll.R_f
        self.default_gain = fll.gain
        r = self.register
        r("LOCK", self._lock)
        r("LOCK?", lambda a: str(int(fll.locked)))
        r("RESET", lambda a: fll.reset())
        r("GAIN", lambda a: self._gain(a))
        r("GAIN?", lambda a: f"{fll.gain:g}")
        r("RF", self._rf)
        r("RF?", lambda a: f"{fll.R_f:g}")
        r("VPHI?", lambda a: f"{fll.volts_per_phi0:.6g}")
        r("SLEW?", lambda a: f"{fll.slew_limit:.6g}")
        r("FLUX?", lambda a: f"{fll.output_flux_phi0() + self._flux_noise():+.9E}")
        r("VOUT?", lambda a: f"{fll.output_V() + self._flux_noise() * fll.volts_per_phi0:+.9E}")
        r("JUMPS?", lambda a: str(fll.jumps))
        # the simulated lab's own clock (simulated seconds per wall second): the station's
        # time_scale must say the same, and the role checks it at connect
        r("CLOCK:SPEED?", lambda a: f"{self.world.clock.speed:g}")
        r("OVLD?", lambda a: str(int(abs(fll.output_flux_phi0() * fll.volts_per_phi0) > fll.output_limit_V)))

    def _flux_noise(self):
        return self.noise(self.world.fll.flux_noise_phi0) if self.world.fll.locked else 0.0

    def reset(self):
        fll = self.world.fll
        fll.R_f, fll.gain = self.default_rf, self.default_gain
        fll.set_lock(True, self.world.squid_flux_phi0())
        fll.reset()

    def _lock(self, a):
        v = a.strip().upper()
        if v not in ("0", "1", "ON", "OFF"):
            raise CommandError(-224, f"Illegal parameter value: {a!r}")
        self.world.fll.set_lock(v in ("1", "ON"), self.world.squid_flux_phi0())

    def _gain(self, a):
        v = self.one_float(a)
        if not 0.01 <= v <= 100:
            raise CommandError(-222, f"gain {v} outside 0.01..100")
        self.world.fll.gain = v

    def _rf(self, a):
        v = self.one_float(a)
        if not 100 <= v <= 1e6:
            raise CommandError(-222, f"feedback resistor {v} ohm outside 100..1e6")
        self.world.fll.R_f = v
