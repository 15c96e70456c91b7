"""Time of a Sobol sensitivity analysis of 1,024 runs and of the global calibrations of the
shipped specifications, on the vectorised engine and on the old path (PySD once per run,
SDVAG_ENGINE=pysd), in one process, each path in turn, best of --repeat rounds, in wall-clock
time and in CPU time (this process's and its worker processes'):

    python benchmarks/analysis_speed.py [--repeat 1] [--calibrations ecom psva viec]

Both paths must give the same answer (sensitivity indices to 1e-9, calibration payoffs to 1e-6
relative): the script says so, or stops.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from sdvag.analysis.calibration import calibrate
from sdvag.analysis.sensitivity import analyse, load_spec

ROOT = Path(__file__).resolve().parents[1]


def cpu() -> float:
    """CPU time of this process and of its finished worker processes (pools are joined when an
    analysis ends), which waiting for a core on a loaded machine does not inflate."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def timed(engine: bool, task):
    if engine:
        os.environ.pop("SDVAG_ENGINE", None)
    else:
        os.environ["SDVAG_ENGINE"] = "pysd"
    start, start_cpu = time.perf_counter(), cpu()
    result = task()
    return np.array([time.perf_counter() - start, cpu() - start_cpu]), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--sensitivity", default=str(ROOT / "scenarios/sensitivity/cluster_evolution.toml"))
    parser.add_argument("--calibrations", nargs="*", default=["ecom", "psva", "viec"])
    args = parser.parse_args()
    spec = load_spec(args.sensitivity)
    tasks = {f"sensitivity {Path(args.sensitivity).stem} ({spec.samples * (len(spec.parameters) + 2)} runs)":
             (lambda: analyse(spec), lambda a, b: np.testing.assert_allclose(
                 a.data["total_order"], b.data["total_order"], rtol=1e-9, atol=1e-12))}
    for name in args.calibrations:
        path = ROOT / "scenarios" / "calibration" / f"{name}.toml"
        tasks[f"calibration {name} (global)"] = (
            (lambda p=path: calibrate(p, method="global")),
            lambda a, b: np.testing.assert_allclose(a.payoff, b.payoff, rtol=1e-6))
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    print(f"{'':45} {'wall-clock time':^33} {'CPU time':^33}")
    print(f"{'task':45}" + f" {'PySD per run':>13} {'engine':>9} {'share':>9}" * 2)
    for label, (task, same) in tasks.items():
        best = {True: np.full(2, np.inf), False: np.full(2, np.inf)}
        results = {}
        for _ in range(args.repeat):
            for engine in (False, True):
                seconds, results[engine] = timed(engine, task)
                best[engine] = np.minimum(best[engine], seconds)
        same(results[False], results[True])
        print(f"{label:45}" + "".join(f" {best[False][i]:12.1f}s {best[True][i]:8.2f}s {best[True][i] / best[False][i]:9.1%}"
                                      for i in range(2)), flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
