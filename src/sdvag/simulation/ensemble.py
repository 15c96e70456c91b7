"""Run one scenario many times with a few constants varied: in this process, in local worker
processes, or on a Dask distributed cluster.

Where the vectorised engine covers the model (simulation/vectorised), each chunk of runs is
one call to it, chunks sized to memory; elsewhere each worker compiles the PySD model once
(PySD models do not pickle, so workers get the model file's bytes the parent checked and
hashed, never the file again, which may have changed since) and then only resets it between
runs, asking PySD for the outputs wanted and nothing else, and the ensemble says once that it
runs PySD. Runs are cut into chunks by index and every result goes back to its own row, so the
Dataset is identical to the last digit whatever the chunks, the number of workers or the order
chunks finish in.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import time
import warnings
from typing import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed

import numpy as np
import pandas as pd
import xarray as xr

from sdvag.progress import Progress, bar
from sdvag.errors import SdvagError, shown
from sdvag.simulation.scenario import Scenario
from sdvag.simulation.simulate import Simulator, default_outputs, to_dataset
from sdvag.simulation.vectorised import Engine, NotCovered
from sdvag.simulation.workers import die_with_parent

_RUNNERS: dict[str, "_Runner"] = {}  # per worker process: one runner per ensemble
_TOLD: set[str] = set()  # models the ensemble already said it runs with PySD
PYSD_CHUNK = 32  # runs per chunk on PySD: even load, frequent progress, a prompt stop on Ctrl-C


class _Runner:
    """A compiled model with the scenario's parameters applied, ready to run rows of values."""

    def __init__(self, scenario: Scenario, names: list[str], columns: list[str]):
        self.sim, plain = Simulator.for_scenario(scenario).with_points(scenario)
        self.base = self.sim.params(plain)
        self.times = self.sim.time_settings(scenario)
        self.scenario, self.names, self.columns = scenario, names, columns
        self.engine = engine_for(scenario)

    def frame(self, row) -> pd.DataFrame:
        values = {name: float(v) for name, v in zip(self.names, row)}
        try:
            return self.sim.run_frame({**self.base, **values}, self.times, columns=self.columns)
        except SdvagError as exc:  # re-raised plainly: it must pickle back from a worker
            shown = ", ".join(f"{k} = {v:g}" for k, v in values.items())
            raise SdvagError(f"run with {shown}: {exc}") from None

    def rows(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, list]:
        """The save times, the outputs of each row (an array rows x columns x times), and each
        row's failure (the variable that stopped being finite, or None)."""
        if self.engine is not None:
            runs = self.engine.run(self.scenario, self.names, rows, self.columns, self.times)
            return runs.time, runs.data, runs.failed
        frames = [self.frame(row)[self.columns] for row in rows]
        return (np.asarray(frames[0].index, dtype=float),
                np.stack([f.to_numpy(dtype=float).T for f in frames]), [None] * len(frames))


def engine_for(scenario: Scenario, report: Callable[[str], None] | None = None) -> Engine | None:
    """The vectorised engine of the scenario's model, or None (said once per model) where it
    does not cover the model."""
    try:
        return Engine.for_model(scenario.model, scenario.model_data)
    except NotCovered as exc:
        if report and str(scenario.model) not in _TOLD:
            _TOLD.add(str(scenario.model))
            report(f"{scenario.model.name}: the vectorised engine does not cover {exc}; "
                   f"running PySD once per run")
        return None


def _key(scenario: Scenario, names: list[str], columns: list[str]) -> str:
    return json.dumps([str(scenario.model), scenario.describe(), names, columns], sort_keys=True)


def _runner(scenario: Scenario, names: list[str], columns: list[str]) -> _Runner:
    key = _key(scenario, names, columns)
    if key not in _RUNNERS:
        _RUNNERS.clear()  # one ensemble at a time per process: keep memory flat
        _RUNNERS[key] = _Runner(scenario, names, columns)
    return _RUNNERS[key]


def _init_worker(parent: int, scenario: Scenario, names: list[str], columns: list[str]) -> None:
    die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _runner(scenario, names, columns)


def _run_chunk(scenario: Scenario, names: list[str], columns: list[str], rows: np.ndarray):
    return _runner(scenario, names, columns).rows(rows)


def _chunks(n: int, workers: int, most: int) -> list[slice]:
    """About ten chunks per worker of at most `most` runs each (PySD) or one per worker (the
    vectorised engine, whose `most` keeps a chunk within its memory budget)."""
    per_worker = 10 if most == PYSD_CHUNK else 1
    size = min(most, max(1, math.ceil(n / (per_worker * workers))))
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


class _Progress:
    """One-line progress bar reports, at most one per 5% of the runs, to a callable; or a tqdm
    bar when the caller gave none and a person watches (sdvag.progress)."""

    def __init__(self, total: int, report: Progress, where: str):
        self.total, self.done, self.shown = total, 0, -1
        self.report = report if callable(report) else None
        self.bar = bar(total, report, f"{total} runs {where}")
        self.start = time.perf_counter()
        if self.report:
            self.report(f"running {total} runs {where}")

    def add(self, count: int) -> None:
        self.done += count
        if self.bar is not None:
            self.bar.update(count)
            if self.done >= self.total:
                self.bar.close()
        step = self.done * 20 // self.total
        if not self.report or step == self.shown:
            return
        self.shown = step
        elapsed = time.perf_counter() - self.start
        rate = self.done / elapsed if elapsed > 0 else float("inf")
        left = (self.total - self.done) / rate if rate > 0 else float("nan")
        bar = "#" * step + "." * (20 - step)
        self.report(f"[{bar}] {self.done}/{self.total} runs, {rate:.1f} runs/s, {left:.0f} s left")


def _collect(futures: dict, finished, progress: _Progress) -> dict:
    """Each chunk's (times, outputs) under the index of its first run, as chunks finish."""
    results = {}
    for future in finished:
        results[futures[future].start] = chunk = future.result()
        progress.add(len(chunk[1]))
    return results


def _local(task, values, workers, scenario, names, columns, progress: _Progress) -> dict:
    with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker,
                             initargs=(os.getpid(), scenario, names, columns)) as pool:
        futures = {pool.submit(_run_chunk, scenario, names, columns, values[c]): c
                   for c in task}
        try:
            return _collect(futures, as_completed(futures), progress)
        except BaseException:  # Ctrl-C or a failed run: drop the queued chunks, stop soon
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _dask(task, values, address, scenario, names, columns, progress: _Progress) -> dict:
    try:
        from distributed import Client, as_completed as dask_completed
    except ImportError:
        raise SdvagError("--scheduler needs Dask: pip install 'sdvag[dask]'") from None
    try:
        client = Client(address, timeout="20s")
    except (OSError, TimeoutError, ValueError, TypeError) as exc:  # ValueError: not an address
        raise SdvagError(f"cannot reach the Dask scheduler at {shown(address)} ({exc})") from None
    with client:
        futures = {client.submit(_run_chunk, scenario, names, columns, values[c], pure=False): c
                   for c in task}
        try:
            return _collect(futures, dask_completed(list(futures)), progress)
        except BaseException:
            client.cancel(list(futures))
            raise


def run_ensemble(scenario: Scenario, names: list[str], values, columns: list[str] | None = None,
                 workers: int | None = None, scheduler: str | None = None,
                 progress: Progress = None) -> xr.Dataset:
    """Run `scenario` once per row of `values` (runs x parameters, in the order of `names`).

    Returns a Dataset with dimensions (run, time) for each column (default: the scenario's
    outputs), plus `parameter_values` (run, parameter) and `failed` (run): the variable that
    stopped being finite in that run, or "". `workers` local processes (default: one, here, for
    a model the vectorised engine covers; else all cores; 1 runs here, in this process), or the
    Dask cluster at `scheduler` (the runs cut into `workers` chunks, default: as many as cores).
    """
    values = np.asarray(values, dtype=float)
    if values.ndim != 2 or values.shape[1] != len(names) or len(values) == 0:
        raise SdvagError(f"ensemble: expected a (runs, {len(names)}) array of values, got shape {values.shape}")
    sim = Simulator.for_scenario(scenario)  # translates the model once, before any worker starts
    scenario = dataclasses.replace(scenario, model_data=sim.info.data)  # what every worker runs
    clashes = [n for n in names if scenario.timed(n)]
    if clashes:
        raise SdvagError(f"{scenario.name}: {', '.join(clashes)}: already a time-series input or a "
                         f"policy in the scenario; cannot also be varied")
    columns = list(columns or scenario.outputs or default_outputs(sim.info))
    engine = engine_for(scenario, progress or _warn)
    workers = (1 if engine and not scheduler else os.cpu_count() or 1) if workers is None else workers
    if workers < 1:
        raise SdvagError(f"--workers must be at least 1, got {workers}")
    times = sim.time_settings(scenario)
    saves = 1 + int(round((times["stop"] - times["start"]) / times["save_step"]))
    task = _chunks(len(values), workers, engine.chunk_size(len(columns), saves) if engine else PYSD_CHUNK)
    if scheduler:
        bar = _Progress(len(values), progress, f"on the Dask cluster at {scheduler}")
        results = _dask(task, values, scheduler, scenario, names, columns, bar)
    elif workers == 1:
        bar = _Progress(len(values), progress, "in this process")
        runner, results = _runner(scenario, names, columns), {}
        for c in task:
            results[c.start] = runner.rows(values[c])
            bar.add(c.stop - c.start)
    else:
        bar = _Progress(len(values), progress, f"on {workers} local workers")
        results = _local(task, values, workers, scenario, names, columns, bar)
    index = results[0][0]
    data = np.concatenate([results[c.start][1] for c in task])
    failed = [f or "" for c in task for f in results[c.start][2]]
    return _dataset(sim, scenario, names, columns, values, index, data, failed)


def _warn(message: str) -> None:
    warnings.warn(message, stacklevel=3)


def _dataset(sim: Simulator, scenario: Scenario, names, columns, values, index, data, failed) -> xr.Dataset:
    """The runs labelled like a single run's Dataset, along a new `run` dimension."""
    times = sim.time_settings(scenario)
    template = to_dataset(pd.DataFrame(data[0].T, index=index, columns=columns), sim.info, scenario, times)
    ds = xr.Dataset(
        {name: (("run", "time"), data[:, j, :], template[name].attrs) for j, name in enumerate(columns)},
        coords={"run": np.arange(len(values)), "time": template["time"], "parameter": list(names)},
        attrs=template.attrs)
    ds["parameter_values"] = (("run", "parameter"), values)
    ds["failed"] = (("run",), np.asarray(failed, dtype=str))
    ds.attrs["outputs"] = json.dumps(columns)
    return ds
