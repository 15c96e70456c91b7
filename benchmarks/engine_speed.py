"""Runs per second of an ensemble, in one process, on the same parameter values:

  numpy    sdvag's vectorised engine on its default backend, all runs of the ensemble at once
  jax      the same engine on its accelerated backend (the `accel` extra), if installed
  PySD     a bare PySD `run()` loop on a model loaded once (the floor of any PySD wrapper)
  Simlin   a serial pysimlin `Model.simulate()` loop (Simlin's compiled engine, one run at a time)

    python benchmarks/engine_speed.py [--models cluster_evolution viec_platform]
                                      [--runs 1 100 1000 10000] [--repeat 3] [--serial-cap 200]

The constants varied and the outputs asked for are those of the model's sensitivity
specification (scenarios/sensitivity/MODEL.toml), drawn at random within their distributions.
The two serial loops cost the same per run whatever the ensemble's size, so each is timed over
at most --serial-cap runs of it. Each figure is the best of --repeat rounds; each round times
every way at every size in turn (interleaved), so that a burst of load from other processes
does not fall on one way only; the load average is printed before and after. Before the
rounds every way runs once at every size: for a backend, that first call's time less its best
is what compiling cost (the jax backend compiles once per model, scenario layout and block
size, and keeps it for the process); it is printed apart and kept out of the runs/s.
"""
from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

import numpy as np
import pysd

from sdvag.analysis.sensitivity import load_spec
from sdvag.model.translate import compiled
from sdvag.model.xmile import canonical
from sdvag.simulation.simulate import Simulator
from sdvag.simulation.vectorised import Engine, backends, simulate_many

ROOT = Path(__file__).resolve().parents[1]


def setup(model: str, runs: int, seed: int):
    """The scenario, parameter names and values (runs x names), outputs and the three ways."""
    spec = load_spec(ROOT / "scenarios" / "sensitivity" / f"{model}.toml")
    rng = np.random.default_rng(seed)
    values = np.column_stack([p.values(rng.uniform(size=runs)) for p in spec.parameters])
    scenario, names, outputs = spec.scenario, spec.names, spec.outputs
    sim = Simulator.for_model(scenario.model)
    base, times = sim.params(scenario), sim.time_settings(scenario)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model_pysd = pysd.load(str(compiled(scenario.model)[1]))
    import simlin
    model_simlin = simlin.load(str(scenario.model))
    simlin_names = [canonical(n).replace(" ", "_") for n in names]
    simlin_outputs = [canonical(n).replace(" ", "_") for n in outputs]
    simlin_base = {canonical(k).replace(" ", "_"): v for k, v in scenario.constants.items()}

    def engine(backend):
        return lambda rows: simulate_many(scenario, names, rows, outputs, backend=backend)

    def bare_pysd(rows):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for row in rows:
                model_pysd.run(params={**base, **dict(zip(names, map(float, row)))},
                               final_time=times["stop"], time_step=times["dt"],
                               saveper=times["save_step"], return_columns=outputs)

    def serial_simlin(rows):
        for row in rows:
            run = model_simlin.simulate(overrides={**simlin_base, **dict(zip(simlin_names, map(float, row)))})
            run.run_to_end()
            for name in simlin_outputs:
                run.get_series(name)

    return values, {**{b: engine(b) for b in backends()}, "PySD": bare_pysd, "Simlin": serial_simlin}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["cluster_evolution", "viec_platform"])
    parser.add_argument("--runs", nargs="+", type=int, default=[1, 100, 1000, 10000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--serial-cap", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} cores; "
          f"engine backends: {', '.join(backends())}")
    for model in args.models:
        start = time.perf_counter()
        Engine.for_model(ROOT / "models" / f"{model}.xmile")
        built = time.perf_counter() - start
        values, ways = setup(model, max(args.runs), args.seed)
        engines = [way for way in ways if way in backends()]
        count = {(way, n): n if way in engines else min(n, args.serial_cap) for way in ways for n in args.runs}
        first = {}
        for n in args.runs:  # every way once at every size: compiling (and loading) happens here
            for way, call in ways.items():
                start = time.perf_counter()
                call(values[:count[way, n]])
                first[way, n] = time.perf_counter() - start
        best = {(way, n): np.inf for way in ways for n in args.runs}
        for _ in range(args.repeat):
            for n in args.runs:
                for way, call in ways.items():
                    start = time.perf_counter()
                    call(values[:count[way, n]])
                    best[way, n] = min(best[way, n], time.perf_counter() - start)
        print(f"\n{model}: runs/s (best of {args.repeat}); the engine built from PySD's translation in {built:.2f} s")
        print(f"{'runs':>7} " + " ".join(f"{w:>8}" for w in ways) + " " +
              " ".join(f"{w + '/' + other:>13}" for w in engines for other in ("PySD", "Simlin")))
        for n in args.runs:
            rate = {way: count[way, n] / best[way, n] for way in ways}
            print(f"{n:>7} " + " ".join(f"{rate[w]:>8,.0f}" if rate[w] >= 100 else f"{rate[w]:>8,.1f}" for w in ways)
                  + " " + " ".join(f"{rate[w] / rate[other]:>12,.2f}x" for w in engines for other in ("PySD", "Simlin")),
                  flush=True)
        for way in engines:
            print(f"compiling, {way} (first call less best, s): " + ", ".join(
                f"{n} runs {max(0.0, first[way, n] - best[way, n]):.2f}" for n in args.runs))
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
