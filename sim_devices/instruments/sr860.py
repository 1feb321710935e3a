"""Stanford Research Systems SR860 lock-in (same cantilever physics as the SR830;
its own index tables: SCAL 0 = 1 V ... 27 = 1 nV, OFLT 0 = 1 us)."""
from __future__ import annotations

from .base import CommandError
from .sr830 import SR830

SENS_860 = [1, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001, 0.0005, 0.0002, 0.0001, 5e-05, 2e-05,
            1e-05, 5e-06, 2e-06, 1e-06, 5e-07, 2e-07, 1e-07, 5e-08, 2e-08, 1e-08, 5e-09, 2e-09, 1e-09]
TC_860 = [1e-6, 3e-6, 10e-6, 30e-6, 100e-6, 300e-6, 1e-3, 3e-3, 10e-3, 30e-3, 100e-3, 300e-3, 1, 3, 10, 30,
          100, 300, 1e3, 3e3, 10e3, 30e3]


class SR860(SR830):
    name = "lockin_sr860"
    model = "SRS SR860"
    idn = "Stanford_Research_Systems,SR860,003285,v1.51"
    reply_termination = "\n"
    serial_port = None   # the SR860's RS-232 is not modelled (its manual was not read for it)
    sensitivities = SENS_860
    time_constants = TC_860
    freq_range = (0.001, 500000.0)
    amp_range = (1e-9, 2.0)
    snap_map = {0: "X", 1: "Y", 2: "R", 3: "THETA", 12: "PHAS", 13: "SAMP", 15: "FREQ"}
    outp_map = {0: "X", 1: "Y", 2: "R", 3: "THETA"}
    _names = {"X": 0, "Y": 1, "R": 2, "THETA": 3, "THE": 3, "TH": 3, "PHASE": 12, "PHA": 12, "SAMP": 13,
              "SAM": 13, "FINT": 15, "FI": 15}

    def setup(self):
        super().setup()
        r = self.register
        r("SCAL?", lambda a: str(self.sens))
        r("SCAL", lambda a: setattr(self, "sens", self._index(a, self.sensitivities)))
        r("FREQINT?", lambda a: f"{self.core.frequency:.6g}")
        r("FREQINT", self._freq)
        r("FREQDET?", lambda a: f"{self.core.frequency:.6g}")
        r("FREQEXT?", lambda a: "0")
        r("SNAPD?", lambda a: self._snap("0,1,2,3"))
        r("ENBW?", lambda a: f"{self.core.enbw():.6g}")
        r("CUROVLDSTAT?", lambda a: "16" if self._overloaded() else "0")
        r("ILVL?", lambda a: "1")
        for k, v in {"RSRC": 0, "IVMD": 0, "IRNG": 0, "ICUR": 0, "ADVFILT": 0, "REFM": 0, "RTRG": 0,
                     "HARMDUAL": 1, "TBMODE": 0, "DBLK": 0, "DLAY": 0}.items():
            self.settings[k] = v
            r(k + "?", lambda a, k=k: str(self.settings[k]))
            r(k, lambda a, k=k: self.settings.__setitem__(k, int(self.one_float(a))))
        r("TBSTAT?", lambda a: "0")
        r("REFZ?", lambda a: "0")

    def _overloaded(self):
        d = self.core.snapshot_values()
        return abs(d["R"]) > self.full_scale()

    def _snap(self, a):
        toks = [t.strip().upper() for t in a.split(",") if t.strip()]
        idx = []
        for t in toks:
            if t.lstrip("-").isdigit():
                idx.append(int(t))
            elif t in self._names:
                idx.append(self._names[t])
            else:
                raise CommandError(-222, f"SNAP? parameter {t!r}")
        return super()._snap(",".join(str(i) for i in idx))
