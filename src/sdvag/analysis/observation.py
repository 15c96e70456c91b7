"""The model's value of an observation, measured where and how the observation was.

A model's time axis counts years so that t = 2017.0 is the start of 2017, while a value for
"2017" may be a year-end level, a mid-year level, a total over the year or a ratio of two
totals (sdvag.data.window reads its `timing`). Comparing every value with the model at
t = year, as calibrations commonly do, puts a year-end level a whole year early and a flow's
annual total at its 1 January rate: on a growing series both bias the fit.

Each observation is a weighted sum over the run's saved times: a level is the model
interpolated linearly at its time; an annual total is the left Riemann sum of the flow over
[year, year + 1) on the saved grid, times the save step, which is exactly what a stock
accumulating the flow would hold in an Euler run saved every dt (calibration runs are saved
every dt, so it is exact there); an annual ratio is the ratio of two annual totals: the
variable weighted by its `denominator` (the annual total of the numerator over that of the
denominator, for a variable that is their ratio), or, without a denominator, its mean over the
year (equal when the denominator is steady within the year). The result is then multiplied by
the target's factor (model units to the series' unit).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sdvag.data import window
from sdvag.errors import SdvagError

MIN_STEPS_PER_YEAR = 4   # a coarser save grid cannot give an annual total worth the name


@dataclass(frozen=True)
class Observation:
    """One observed value's model counterpart: `variable` x `factor`, as a level at `start`
    (kind 'level', start == end) or a total or ratio over [start, end)."""

    variable: str
    factor: float
    kind: str
    start: float
    end: float
    denominator: str | None = None

    @classmethod
    def of(cls, variable: str, factor: float, timing: str, year: float,
           denominator: str | None = None) -> "Observation":
        kind, start, end = window(timing, float(year))
        return cls(variable, factor, kind, start, end, denominator if kind == "ratio" else None)

    def weights(self, times: np.ndarray) -> np.ndarray:
        """Weights w over the saved times with value = w @ trajectory (before the factor);
        for a ratio, w gives the annual mean and the denominator weighting is applied after."""
        w = np.zeros(times.size)
        tol = 1e-9 * max(1.0, abs(self.start))
        if self.start < times[0] - tol or self.end > times[-1] + tol:
            raise SdvagError(f"{self.variable} at {self._when()}: outside the run "
                             f"({times[0]:g}-{times[-1]:g})")
        if self.kind == "level":
            i = int(np.clip(np.searchsorted(times, self.start - tol), 0, times.size - 1))
            if abs(times[i] - self.start) <= tol or i == 0:
                w[i] = 1.0
            else:
                frac = (self.start - times[i - 1]) / (times[i] - times[i - 1])
                w[i - 1], w[i] = 1.0 - frac, frac
            return w
        step = float(times[1] - times[0]) if times.size > 1 else np.inf
        if step > 1.0 / MIN_STEPS_PER_YEAR + 1e-12:
            raise SdvagError(f"{self.variable} at {self._when()}: the run is saved every {step:g}; an "
                             f"annual total needs a save step of at most 1/{MIN_STEPS_PER_YEAR} "
                             "(run with save_step = dt)")
        inside = (times >= self.start - tol) & (times < self.end - tol)
        w[inside] = step if self.kind == "total" else 1.0 / max(int(inside.sum()), 1)
        return w

    def _when(self) -> str:
        return f"t = {self.start:g}" if self.kind == "level" else f"[{self.start:g}, {self.end:g})"


class Plan:
    """Many observations read from one run at once: a matrix of weights per variable.

    Build it once for a time grid (`prepare`), then `values` costs one matrix product per run.
    """

    def __init__(self, observations: list[Observation]):
        self.observations = list(observations)
        self.columns = sorted({o.variable for o in self.observations}
                              | {o.denominator for o in self.observations if o.denominator})
        self._times: np.ndarray | None = None

    @property
    def last_time(self) -> float:
        return max(o.end for o in self.observations)

    def prepare(self, times) -> None:
        times = np.asarray(times, dtype=float)
        if self._times is not None and self._times.shape == times.shape and np.array_equal(self._times, times):
            return
        self._w = np.stack([o.weights(times) for o in self.observations]) if self.observations \
            else np.zeros((0, times.size))
        self._times = times

    def values(self, times, columns: dict[str, np.ndarray]) -> np.ndarray:
        """Each observation's model value (x factor) from a run's saved times and variables."""
        self.prepare(times)
        out = np.empty(len(self.observations))
        for i, o in enumerate(self.observations):
            x = np.asarray(columns[o.variable], dtype=float)
            if o.denominator:
                d = np.asarray(columns[o.denominator], dtype=float)
                with np.errstate(divide="ignore", invalid="ignore"):
                    out[i] = (self._w[i] @ (x * d)) / (self._w[i] @ d)
            else:
                out[i] = self._w[i] @ x
            out[i] *= o.factor
        return out

    def from_frame(self, frame) -> np.ndarray:
        """`values` from a PySD DataFrame or an xarray Dataset of one run."""
        if hasattr(frame, "index") and not hasattr(frame, "dims"):
            times = np.asarray(frame.index, dtype=float)
        else:
            times = np.asarray(frame["time"], dtype=float)
        return self.values(times, {c: np.asarray(frame[c], dtype=float) for c in self.columns})
