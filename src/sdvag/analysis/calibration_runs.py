"""Model runs for calibration: one scenario, a few constants set, read through an observation plan.

Every method (least squares, differential evolution, MCMC, projection bands) asks for the
observations of a batch of parameter sets through `evaluate`, the one place where runs happen:
today each set is a PySD run, in worker processes when a pool is given; a vectorised engine
that runs a whole batch at once replaces this function alone.
"""
from __future__ import annotations

import dataclasses
import multiprocessing
import os
import signal

import numpy as np

from sdvag.analysis.observation import Plan
from sdvag.errors import SdvagError
from sdvag.simulation.scenario import Scenario
from sdvag.simulation.simulate import Simulator


class ModelRuns:
    """Observations of the scenario with `names` set to a row of values (NaN if the run fails).

    Runs are saved every dt (so annual totals are exact Riemann sums of the Euler run) and stop
    at the first save time after the last observation. Picklable: a worker process compiles the
    model from its file once (PySD models do not pickle).
    """

    def __init__(self, scenario: Scenario, names: list[str], plan: Plan):
        self.scenario, self.names, self.plan = scenario, list(names), plan
        self._sim = None

    def __getstate__(self):
        return {**self.__dict__, "_sim": None}

    def scenario_with(self, values) -> Scenario:
        """The scenario with the named constants set to these values."""
        return dataclasses.replace(self.scenario, constants={
            **self.scenario.constants, **dict(zip(self.names, np.asarray(values, dtype=float).tolist()))})

    def times(self, sim: Simulator) -> dict[str, float]:
        times = sim.time_settings(self.scenario)
        steps = np.ceil((self.plan.last_time - times["start"]) / times["dt"] - 1e-9)
        return {**times, "save_step": times["dt"],
                "stop": min(times["stop"], times["start"] + steps * times["dt"])}

    def __call__(self, values) -> np.ndarray:
        if self._sim is None:
            self._sim = Simulator.for_model(self.scenario.model)
            self._base = self._sim.params(self.scenario)
            self._times = self.times(self._sim)
        row = dict(zip(self.names, np.asarray(values, dtype=float).tolist()))
        try:
            frame = self._sim.run_frame({**self._base, **row}, self._times, self.plan.columns)
        except SdvagError:
            return np.full(len(self.plan.observations), np.nan)
        with np.errstate(all="ignore"):
            out = self.plan.from_frame(frame)
        return np.where(np.isfinite(out), out, np.nan)


def evaluate(runs: ModelRuns, values, pool=None) -> np.ndarray:
    """The observations of each row of `values` (sets x parameters): an array (sets, observations)."""
    values = np.atleast_2d(np.asarray(values, dtype=float))
    rows = pool.map(runs, list(values), chunksize=max(1, len(values) // (4 * _size(pool)))) if pool \
        else [runs(v) for v in values]
    return np.stack(rows) if len(rows) else np.zeros((0, len(runs.plan.observations)))


def _size(pool) -> int:
    return getattr(pool, "_processes", 1) or 1


def _ignore_interrupt() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle


def default_workers() -> int:
    return os.cpu_count() or 1


def worker_pool(workers: int | None):
    """A pool of `workers` processes (default: all cores), or None for one (runs stay here)."""
    workers = default_workers() if workers is None else workers
    if workers < 1:
        raise SdvagError(f"--workers must be at least 1, got {workers}")
    return multiprocessing.get_context().Pool(workers, initializer=_ignore_interrupt) if workers > 1 else None
