"""Run one scenario many times with a few constants varied: in this process, in local worker
processes, or on a Dask distributed cluster.

Each worker compiles the model once (PySD models do not pickle, so workers load it from its
file) and then only resets it between runs, asking PySD for the outputs wanted and nothing else.
Runs are cut into chunks by index and every result goes back to its own row, so the Dataset is
identical to the last digit whatever the number of workers or the order chunks finish in.
"""
from __future__ import annotations

import json
import math
import os
import signal
import time
from concurrent.futures import ProcessPoolExecutor, as_completed

import numpy as np
import pandas as pd
import xarray as xr

from sdvag.progress import Progress, bar
from sdvag.errors import SdvagError
from sdvag.simulation.scenario import Scenario
from sdvag.simulation.simulate import Simulator, default_outputs, to_dataset

_RUNNERS: dict[str, "_Runner"] = {}  # per worker process: one runner per ensemble


class _Runner:
    """A compiled model with the scenario's parameters applied, ready to run rows of values."""

    def __init__(self, scenario: Scenario, names: list[str], columns: list[str]):
        self.sim = Simulator.for_model(scenario.model)
        self.base = self.sim.params(scenario)
        self.times = self.sim.time_settings(scenario)
        self.names, self.columns = names, columns

    def frame(self, row) -> pd.DataFrame:
        values = {name: float(v) for name, v in zip(self.names, row)}
        try:
            return self.sim.run_frame({**self.base, **values}, self.times, columns=self.columns)
        except SdvagError as exc:  # re-raised plainly: it must pickle back from a worker
            shown = ", ".join(f"{k} = {v:g}" for k, v in values.items())
            raise SdvagError(f"run with {shown}: {exc}") from None

    def rows(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The save times, and the outputs of each row: an array (rows, columns, times)."""
        frames = [self.frame(row)[self.columns] for row in rows]
        return (np.asarray(frames[0].index, dtype=float),
                np.stack([f.to_numpy(dtype=float).T for f in frames]))


def _key(scenario: Scenario, names: list[str], columns: list[str]) -> str:
    return json.dumps([str(scenario.model), scenario.describe(), names, columns], sort_keys=True)


def _runner(scenario: Scenario, names: list[str], columns: list[str]) -> _Runner:
    key = _key(scenario, names, columns)
    if key not in _RUNNERS:
        _RUNNERS.clear()  # one ensemble at a time per process: keep memory flat
        _RUNNERS[key] = _Runner(scenario, names, columns)
    return _RUNNERS[key]


def _init_worker(scenario: Scenario, names: list[str], columns: list[str]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _runner(scenario, names, columns)


def _run_chunk(scenario: Scenario, names: list[str], columns: list[str], rows: np.ndarray):
    return _runner(scenario, names, columns).rows(rows)


def _chunks(n: int, workers: int) -> list[slice]:
    """About ten chunks per worker (at most 32 runs each): even load, frequent progress, a
    prompt stop on Ctrl-C, little traffic."""
    size = min(32, max(1, math.ceil(n / (10 * workers))))
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
                             initargs=(scenario, names, columns)) as pool:
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
    except (OSError, TimeoutError) as exc:
        raise SdvagError(f"cannot reach the Dask scheduler at {address} ({exc})") from None
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
    outputs), plus `parameter_values` (run, parameter). `workers` local processes (default:
    all cores; 1 runs here, in this process), or the Dask cluster at `scheduler`.
    """
    values = np.asarray(values, dtype=float)
    if values.ndim != 2 or values.shape[1] != len(names) or len(values) == 0:
        raise SdvagError(f"ensemble: expected a (runs, {len(names)}) array of values, got shape {values.shape}")
    sim = Simulator.for_model(scenario.model)  # translates the model once, before any worker starts
    clashes = [n for n in names if n in scenario.inputs or any(p.variable == n for p in scenario.policies)]
    if clashes:
        raise SdvagError(f"{scenario.name}: {', '.join(clashes)}: already a time-series input or a "
                         f"policy in the scenario; cannot also be varied")
    columns = list(columns or scenario.outputs or default_outputs(sim.info))
    workers = (os.cpu_count() or 1) if workers is None else workers
    if workers < 1:
        raise SdvagError(f"--workers must be at least 1, got {workers}")
    task = _chunks(len(values), workers)
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
    return _dataset(sim, scenario, names, columns, values, index, data)


def _dataset(sim: Simulator, scenario: Scenario, names, columns, values, index, data) -> xr.Dataset:
    """The runs labelled like a single run's Dataset, along a new `run` dimension."""
    times = sim.time_settings(scenario)
    template = to_dataset(pd.DataFrame(data[0].T, index=index, columns=columns), sim.info, scenario, times)
    ds = xr.Dataset(
        {name: (("run", "time"), data[:, j, :], template[name].attrs) for j, name in enumerate(columns)},
        coords={"run": np.arange(len(values)), "time": template["time"], "parameter": list(names)},
        attrs=template.attrs)
    ds["parameter_values"] = (("run", "parameter"), values)
    ds.attrs["outputs"] = json.dumps(columns)
    return ds
