"""What sdvag's single run costs on top of PySD: `sdvag.run(scenario)` (parameters, PySD's run,
the labelled Dataset) against a bare PySD `run()` of the same model loaded once, interleaved,
in wall-clock and in CPU time: the best of --repeat each, and the median of the ratios of the
runs taken in pairs (a pair shares the machine's load of the moment):

    python benchmarks/single_run.py [--scenarios tic_baseline viec_baseline] [--repeat 20]
"""
from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

import numpy as np
import pysd

import sdvag
from sdvag.model.translate import compiled
from sdvag.simulation.scenario import load_scenario
from sdvag.simulation.simulate import Simulator

ROOT = Path(__file__).resolve().parents[1]
# wall-clock time, and the CPU time of this process (which waiting for a core on a loaded
# machine does not inflate)
CLOCKS = {"wall": time.perf_counter, "CPU": time.process_time}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", nargs="+", default=["tic_baseline", "viec_baseline"])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    for name in args.scenarios:
        scenario = load_scenario(ROOT / "scenarios" / f"{name}.toml")
        sim = Simulator.for_model(scenario.model)
        params, times = sim.params(scenario), sim.time_settings(scenario)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bare = pysd.load(str(compiled(scenario.model)[1]))

        def pysd_run():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                bare.run(params=params, final_time=times["stop"], time_step=times["dt"],
                         saveper=times["save_step"])
        ways = {"sdvag.run": lambda: sdvag.run(scenario), "bare PySD run()": pysd_run}
        spent = {(way, clock): [] for way in ways for clock in CLOCKS}
        for i in range(args.repeat):
            for way in sorted(ways, reverse=bool(i % 2)):  # each pair in alternating order
                start = {clock: CLOCKS[clock]() for clock in CLOCKS}
                ways[way]()
                for clock in CLOCKS:
                    spent[way, clock].append(CLOCKS[clock]() - start[clock])
        for clock in CLOCKS:
            ours, bare = np.array(spent["sdvag.run", clock]), np.array(spent["bare PySD run()", clock])
            print(f"{name} ({clock}): sdvag.run {ours.min() * 1e3:.1f} ms, bare PySD run() {bare.min() * 1e3:.1f} ms "
                  f"(best of {args.repeat}): {ours.min() / bare.min():.3f}x; median of the {args.repeat} "
                  f"pairs' ratios {np.median(ours / bare):.3f}x")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
