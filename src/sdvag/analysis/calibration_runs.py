"""Model runs for calibration: one scenario, a few constants set, read through an observation plan.

Every method (least squares, differential evolution, MCMC, projection bands) asks for the
observations of a batch of parameter sets through `evaluate`, the one place where runs happen:
the whole batch is one call of the vectorised engine where it covers the model
(simulation/vectorised), else each set is a PySD run, in worker processes when a pool is given.
"""
from __future__ import annotations

import dataclasses
import multiprocessing
import os
import signal

import numpy as np

from sdvag.analysis.observation import Plan
from sdvag.errors import SdvagError
from sdvag.simulation.scenario import Scenario, time_settings
from sdvag.simulation.simulate import Simulator
from sdvag.simulation.vectorised import Engine, NotCovered
from sdvag.simulation.workers import die_with_parent


class ModelRuns:
    """Observations of the scenario with `names` set to a row of values (NaN if the run fails).

    Runs are saved every dt (so annual totals are exact Riemann sums of the Euler run) and stop
    at the first save time after the last observation. Picklable: a worker process compiles the
    model once (PySD models do not pickle), from the model bytes the parent read and checked,
    never from the file again.
    """

    def __init__(self, scenario: Scenario, names: list[str], plan: Plan):
        data = scenario.model_data or Simulator.for_scenario(scenario).info.data
        self.scenario = dataclasses.replace(scenario, model_data=data)
        self.names, self.plan = list(names), plan
        self._sim = None

    def __getstate__(self):
        return {**self.__dict__, "_sim": None}

    def scenario_with(self, values) -> Scenario:
        """The scenario with the named constants set to these values."""
        return dataclasses.replace(self.scenario, constants={
            **self.scenario.constants, **dict(zip(self.names, np.asarray(values, dtype=float).tolist()))})

    def times(self, runner) -> dict[str, float]:
        """Saved every dt up to the first step after the last observation (a Simulator or an
        Engine: both know the model's time settings)."""
        times = time_settings(self.scenario, runner.info)
        steps = np.ceil((self.plan.last_time - times["start"]) / times["dt"] - 1e-9)
        return {**times, "save_step": times["dt"],
                "stop": min(times["stop"], times["start"] + steps * times["dt"])}

    @property
    def batched(self) -> bool:
        """Whether a batch of sets runs as one call of the vectorised engine (costing about
        what one run does) rather than as one PySD run per set."""
        try:
            Engine.for_model(self.scenario.model, self.scenario.model_data)
        except NotCovered:
            return False
        return True

    def on_engine(self, values: np.ndarray) -> np.ndarray | None:
        """The observations of every row at once on the vectorised engine; None where it does
        not cover the model (then runs go to PySD, one per set)."""
        try:
            engine = Engine.for_model(self.scenario.model, self.scenario.model_data)
            times = self.times(engine)
            runs = engine.run(self.scenario, self.names, values, self.plan.columns, times)
        except NotCovered:
            return None
        rows = np.full((len(values), len(self.plan.observations)), np.nan)
        with np.errstate(all="ignore"):
            for i in (i for i, failed in enumerate(runs.failed) if failed is None):
                rows[i] = self.plan.values(runs.time, dict(zip(self.plan.columns, runs.data[i])))
        return np.where(np.isfinite(rows), rows, np.nan)

    def __call__(self, values) -> np.ndarray:
        if self._sim is None:
            self._sim, plain = Simulator.for_scenario(self.scenario).with_points(self.scenario)
            self._base = self._sim.params(plain)
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
    on_engine = runs.on_engine(values)
    if on_engine is not None:
        return on_engine
    rows = pool.map(runs, list(values), chunksize=max(1, len(values) // (4 * _size(pool)))) if pool \
        else [runs(v) for v in values]
    return np.stack(rows) if len(rows) else np.zeros((0, len(runs.plan.observations)))


def _size(pool) -> int:
    return getattr(pool, "_processes", 1) or 1


def _start_worker(parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    die_with_parent(parent)


def default_workers() -> int:
    return os.cpu_count() or 1


def worker_pool(workers: int | None):
    """A pool of `workers` processes (default: all cores), or None for one (runs stay here)."""
    workers = default_workers() if workers is None else workers
    if workers < 1:
        raise SdvagError(f"--workers must be at least 1, got {workers}")
    return multiprocessing.get_context().Pool(workers, initializer=_start_worker,
                                              initargs=(os.getpid(),)) if workers > 1 else None
