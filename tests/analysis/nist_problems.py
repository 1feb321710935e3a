"""The NIST StRD nonlinear regression problems (nist_strd/*.dat): each file parsed for its data,
its two starting points and its certified values, and its model written from the file's own
`Model:` line, as f(x, b) on float64 arrays (numba-compilable, as a user's model would be).

Nelson has two predictors: its x is [x1..., x2...] (both halves of one array)."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent / "nist_strd"
PI = 3.141592653589793238462643383279


@dataclass
class Problem:
    name: str
    difficulty: str           # Lower, Average, Higher
    starts: list              # [start 1, start 2], each an array
    certified: np.ndarray
    certified_sd: np.ndarray
    certified_rss: float
    x: np.ndarray
    y: np.ndarray
    model: object


def bennett5(x, b):
    return b[0] * (b[1] + x) ** (-1.0 / b[2])


def boxbod(x, b):
    return b[0] * (1.0 - np.exp(-b[1] * x))


def chwirut(x, b):
    return np.exp(-b[0] * x) / (b[1] + b[2] * x)


def danwood(x, b):
    return b[0] * x ** b[1]


def enso(x, b):
    w = 2.0 * PI * x
    return (b[0] + b[1] * np.cos(w / 12.0) + b[2] * np.sin(w / 12.0)
            + b[4] * np.cos(w / b[3]) + b[5] * np.sin(w / b[3])
            + b[7] * np.cos(w / b[6]) + b[8] * np.sin(w / b[6]))


def eckerle4(x, b):
    return (b[0] / b[1]) * np.exp(-0.5 * ((x - b[2]) / b[1]) ** 2)


def gauss(x, b):
    return (b[0] * np.exp(-b[1] * x) + b[2] * np.exp(-(x - b[3]) ** 2 / b[4] ** 2)
            + b[5] * np.exp(-(x - b[6]) ** 2 / b[7] ** 2))


def rational_3_3(x, b):   # Hahn1, Thurber
    return (b[0] + b[1] * x + b[2] * x ** 2 + b[3] * x ** 3) / (1.0 + b[4] * x + b[5] * x ** 2 + b[6] * x ** 3)


def kirby2(x, b):
    return (b[0] + b[1] * x + b[2] * x ** 2) / (1.0 + b[3] * x + b[4] * x ** 2)


def lanczos(x, b):
    return b[0] * np.exp(-b[1] * x) + b[2] * np.exp(-b[3] * x) + b[4] * np.exp(-b[5] * x)


def mgh09(x, b):
    return b[0] * (x ** 2 + x * b[1]) / (x ** 2 + x * b[2] + b[3])


def mgh10(x, b):
    return b[0] * np.exp(b[1] / (x + b[2]))


def mgh17(x, b):
    return b[0] + b[1] * np.exp(-x * b[3]) + b[2] * np.exp(-x * b[4])


def misra1a(x, b):
    return b[0] * (1.0 - np.exp(-b[1] * x))


def misra1b(x, b):
    return b[0] * (1.0 - (1.0 + b[1] * x / 2.0) ** (-2.0))


def misra1c(x, b):
    return b[0] * (1.0 - (1.0 + 2.0 * b[1] * x) ** (-0.5))


def misra1d(x, b):
    return b[0] * b[1] * x * ((1.0 + b[1] * x) ** (-1.0))


def nelson(x, b):   # log[y] = b1 - b2*x1 * exp[-b3*x2]; x = [x1, x2], y given as log(y)
    n = x.shape[0] // 2
    return b[0] - b[1] * x[:n] * np.exp(-b[2] * x[n:])


def rat42(x, b):
    return b[0] / (1.0 + np.exp(b[1] - b[2] * x))


def rat43(x, b):
    return b[0] / ((1.0 + np.exp(b[1] - b[2] * x)) ** (1.0 / b[3]))


def roszman1(x, b):
    return b[0] - b[1] * x - np.arctan(b[2] / (x - b[3])) / PI


MODELS = {
    "Bennett5": bennett5, "BoxBOD": boxbod, "Chwirut1": chwirut, "Chwirut2": chwirut, "DanWood": danwood,
    "ENSO": enso, "Eckerle4": eckerle4, "Gauss1": gauss, "Gauss2": gauss, "Gauss3": gauss,
    "Hahn1": rational_3_3, "Kirby2": kirby2, "Lanczos1": lanczos, "Lanczos2": lanczos, "Lanczos3": lanczos,
    "MGH09": mgh09, "MGH10": mgh10, "MGH17": mgh17, "Misra1a": misra1a, "Misra1b": misra1b,
    "Misra1c": misra1c, "Misra1d": misra1d, "Nelson": nelson, "Rat42": rat42, "Rat43": rat43,
    "Roszman1": roszman1, "Thurber": rational_3_3,
}

_NUMBER = r"[-+]?\d*\.?\d+(?:[eE][-+]?\d+)?"


def load(name: str) -> Problem:
    text = (HERE / f"{name}.dat").read_text()
    lines = text.splitlines()
    difficulty = re.search(r"(Lower|Average|Higher) Level of Difficulty", text).group(1)
    starts1, starts2, cert, sd = [], [], [], []
    for line in lines:
        m = re.match(rf"^\s*b\d+\s*=\s*({_NUMBER})\s+({_NUMBER})\s+({_NUMBER})\s+({_NUMBER})\s*$", line)
        if m:
            a, b, c, d = (float(v) for v in m.groups())
            starts1.append(a)
            starts2.append(b)
            cert.append(c)
            sd.append(d)
    rss = float(re.search(rf"Residual Sum of Squares:\s+({_NUMBER})", text).group(1))
    start = next(i for i, line in enumerate(lines) if re.match(r"^Data:\s+y\s", line))
    rows = [[float(v) for v in line.split()] for line in lines[start + 1:] if line.strip()]
    data = np.array(rows)
    y = data[:, 0]
    if name == "Nelson":
        x = np.concatenate([data[:, 1], data[:, 2]])
        y = np.log(y)
    else:
        x = data[:, 1]
    return Problem(name, difficulty, [np.array(starts1), np.array(starts2)], np.array(cert), np.array(sd),
                   rss, np.ascontiguousarray(x), np.ascontiguousarray(y), MODELS[name])


def names() -> list[str]:
    return sorted(p.stem for p in HERE.glob("*.dat"))


def digits_agreeing(estimate: np.ndarray, certified: np.ndarray) -> float:
    """The log relative error (LRE), the smallest over the parameters: how many significant
    digits of the certified values the estimate has (NIST's measure of accuracy)."""
    out = math.inf
    for e, c in zip(estimate, certified):
        if not math.isfinite(e):
            return 0.0
        rel = abs(e - c) / abs(c) if c != 0 else abs(e)
        out = min(out, 15.0 if rel == 0 else -math.log10(rel))
    return max(out, 0.0)
