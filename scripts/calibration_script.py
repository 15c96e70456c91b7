"""What every scripts/calibrate_*.py does: re-create a shipped calibrated scenario from its spec.

The calibrated scenario goes to scenarios/calibrated/NAME.toml and the fit plot to
docs/calibration/NAME_fit.png, or both to --out DIR. --method local gives a quick check
instead of the specification's (slow) global search.
"""
import argparse
import sys
from pathlib import Path

import sdvag
from sdvag.report.calibration_output import write_files

ROOT = Path(__file__).resolve().parents[1]


def main(spec: str) -> None:
    parser = argparse.ArgumentParser(description=f"Re-create the calibration of scenarios/calibration/{spec}")
    parser.add_argument("--method", help="local, global, multistart or mcmc (default: the spec's)")
    parser.add_argument("--workers", type=int, help="processes for the global search")
    parser.add_argument("--out", type=Path, help="write the scenario and the plot here instead")
    args = parser.parse_args()
    say = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    result = sdvag.calibrate(ROOT / "scenarios" / "calibration" / spec, method=args.method,
                             workers=args.workers, progress=say)
    print(result.summary())
    name = result.spec.name
    for path in write_files(result, (args.out or ROOT / "scenarios" / "calibrated") / f"{name}.toml",
                            (args.out or ROOT / "docs" / "calibration") / f"{name}_fit.png"):
        say(f"wrote {path}")
