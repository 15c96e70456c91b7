"""Runs per second of an ensemble, four ways in one process, on the same parameter values:

  sdvag     sdvag's ensemble runner on all cores (compile once per worker, reset between runs)
  reload    a plain loop that loads the translated PySD model again for every run, as generic
            wrappers do
  sdvag-1   sdvag's ensemble runner on one worker (in this process)
  bare      a bare PySD `run()` loop on a model loaded once: the floor sdvag-1 should match

    python benchmarks/ensemble_speed.py [--spec scenarios/sensitivity/cluster_evolution.toml]
                                        [--runs 256] [--repeat 3]

Each figure is the best of --repeat rounds, each round timing the four ways in turn (other
processes share the machine); the load average is printed so the figures can be read against it.
"""
from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

import numpy as np
import pysd

from sdvag.simulation.ensemble import run_ensemble
from sdvag.analysis.sensitivity import design_matrix, load_spec
from sdvag.simulation.simulate import Simulator
from sdvag.model.translate import translated_file
from sdvag.model.xmile import model_bytes

ROOT = Path(__file__).resolve().parents[1]


def plain_loop(py_file: Path, base: dict, names, values, times, columns, reload: bool) -> np.ndarray:
    """What a generic wrapper does: PySD's own API, loading the model per run if `reload`."""
    model, out = pysd.load(str(py_file)), []
    for i, row in enumerate(values):
        if reload and i:
            model = pysd.load(str(py_file))
        frame = model.run(params={**base, **dict(zip(names, map(float, row)))},
                          final_time=times["stop"], time_step=times["dt"], saveper=times["save_step"],
                          return_columns=columns)
        out.append(frame[columns].to_numpy().T)
    return np.stack(out)


def best_of(ways: dict, repeat: int) -> tuple[dict, dict]:
    """Best time of each way over `repeat` rounds, each round running every way once in turn,
    so that a burst of load from other processes does not fall on one way only."""
    seconds, results = {label: float("inf") for label in ways}, {}
    for _ in range(repeat):
        for label, way in ways.items():
            start = time.perf_counter()
            results[label] = way()
            seconds[label] = min(seconds[label], time.perf_counter() - start)
    return seconds, results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", default=ROOT / "scenarios" / "sensitivity" / "cluster_evolution.toml")
    ap.add_argument("--runs", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    spec = load_spec(args.spec)
    spec.samples, spec.indices, spec.design = args.runs, False, "latin"
    values, _ = design_matrix(spec)
    scenario, names, columns = spec.scenario, spec.names, spec.outputs
    if scenario.policies or scenario.inputs or scenario.graphical:
        raise SystemExit("the plain loops pass constants only: pick a scenario without policies or inputs")
    sim = Simulator.for_model(scenario.model)
    times = sim.time_settings(scenario)
    py_file = translated_file(sim.info, model_bytes(scenario.model))
    cores = os.cpu_count() or 1
    warnings.simplefilter("ignore")
    print(f"{len(values)} runs of {scenario.name} ({Path(scenario.model).name}), {len(names)} parameters "
          f"varied, {len(columns)} outputs; {cores} cores; load average before {os.getloadavg()[0]:.2f}")
    ways = {
        f"sdvag ({cores} workers)": lambda: run_ensemble(scenario, names, values, columns, workers=cores),
        "reload loop": lambda: plain_loop(py_file, scenario.constants, names, values, times, columns, True),
        "sdvag (1 worker)": lambda: run_ensemble(scenario, names, values, columns, workers=1),
        "bare PySD run()": lambda: plain_loop(py_file, scenario.constants, names, values, times, columns, False),
    }
    seconds, results = best_of(ways, args.repeat)
    rates = {label: len(values) / seconds[label] for label in ways}
    for label, rate in rates.items():
        print(f"  {label:22s} {rate:8.1f} runs/s")
    labels = list(ways)
    stacked = results[labels[0]][columns].to_array().transpose("run", "variable", "time").to_numpy()
    same = (np.array_equal(stacked, results[labels[1]]) and np.array_equal(stacked, results[labels[3]])
            and results[labels[0]].identical(results[labels[2]]))
    print(f"  all four give identical outputs: {same}")
    print(f"sdvag ({cores} workers) / reload loop: {rates[labels[0]] / rates[labels[1]]:.2f}x")
    print(f"sdvag (1 worker) / bare PySD run(): {rates[labels[2]] / rates[labels[3]]:.2f}x")
    print(f"load average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
