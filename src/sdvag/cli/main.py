"""`python -m sdvag`: a thin layer over the package, turning user errors into one-line messages.

Exit status: 0 success, 2 bad input (the message says what and where), 3 a model feature that
cannot be simulated, 1 a check that found failures.
"""
from __future__ import annotations

import argparse
import os
import re
import signal
import sys

from sdvag.errors import SdvagError, shown

# The analyses, reports and PySD are imported by the commands that use them, once the signal
# handlers are in place: Ctrl-C or SIGTERM during start-up then ends as quietly as later.


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit status 2, like every other input error
        self.exit(2, f"error: {message} (see `python -m {self.prog} --help`)\n")


def _overrides(pairs: list[str]) -> dict[str, float]:
    from sdvag.simulation.scenario import number_from_text
    values = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise SdvagError(f"--set {shown(pair)}: expected NAME=VALUE")
        number = number_from_text(value)
        if number is None:
            raise SdvagError(f"--set {shown(pair)}: {value!r} is not a number")
        values[name.strip()] = number
    return values


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class _Printable:
    """A text stream that prints control characters and terminal escapes escaped (line breaks
    and tabs excepted): text from a model or a scenario cannot fake lines or move the cursor."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text: str) -> int:
        keep = "\n\t\r" if self.stream.isatty() else "\n\t"  # a progress bar redraws its line
        parts = re.split(f"([{keep}])", text)
        return self.stream.write("".join(p if p and p in keep else shown(p, None) for p in parts))

    def __getattr__(self, name):
        return getattr(self.stream, name)


_interrupted: list[int] = []  # the signals received during this command


def _interrupt(signum, frame):
    """Ctrl-C and SIGTERM end a run the same way: temporary files are removed, exit status 130."""
    _interrupted.append(signum)
    raise KeyboardInterrupt


def _finish(ds, out: str | None) -> None:
    from sdvag.report import tables as report
    print(report.summary(ds))
    for warning in report.problems(ds):
        _say(warning)
    if out:
        for path in report.write_all(ds, out):
            _say(f"wrote {path}")


def cmd_list(args) -> None:
    from sdvag.model.shipped import SHIPPED, shipped_models, shipped_scenarios
    from sdvag.model.xmile import read_model
    from sdvag.simulation.scenario import read_toml
    models, scenarios = shipped_models(), shipped_scenarios()
    if not models and not scenarios:
        raise SdvagError(f"no shipped models or scenarios found in the package ({SHIPPED})")
    print("models:")
    for m in models:
        print(f"  {m.relative_to(SHIPPED)}  {read_model(m).name}")
    print("scenarios:")
    for s in scenarios:
        try:
            title = read_toml(s, "scenario file").get("title", "")
        except SdvagError:
            title = "(not valid TOML)"
        print(f"  {s.relative_to(SHIPPED)}  {title}")


def cmd_describe(args) -> None:
    from sdvag.model.xmile import read_model
    info = read_model(args.model)
    s = info.sim
    print(f"{info.name} ({info.path.name}): time {s.start:g} to {s.stop:g} {s.time_units}, dt {s.dt:g}")
    order = {"stock": 0, "flow": 1, "auxiliary": 2, "graphical": 3, "constant": 4}
    for var in sorted(info.variables.values(), key=lambda v: (order.get(v.role, 5), v.name.lower())):
        bits = [var.role, var.units or "(no units)"]
        if var.is_constant:
            bits.append(f"default {var.default:g}")
        if var.range:
            bits.append(f"range [{var.range[0]:g}, {var.range[1]:g}]")
        print(f"{var.name}: {', '.join(bits)}")
        if var.doc:
            print(f"    {' '.join(var.doc.split())}")


def cmd_run(args) -> None:
    from sdvag.simulation.simulate import run
    _finish(run(args.target, set=_overrides(args.set), progress=sys.stderr.isatty()), args.out)


def cmd_compare(args) -> None:
    from sdvag.simulation.simulate import compare
    _finish(compare(args.targets, set=_overrides(args.set), report=_say), args.out)


def cmd_data(args) -> None:
    from sdvag.data import catalogue
    print(catalogue())


def cmd_calibrate(args) -> None:
    from sdvag.api import calibrate
    result = calibrate(args.spec, method=args.method, seed=args.seed, out=args.out,
                       workers=args.workers, progress=_say)
    print(result.summary())


def cmd_sensitivity(args) -> None:
    from sdvag.api import sensitivity_file
    result = sensitivity_file(args.spec, out=args.out, workers=args.workers,
                              scheduler=args.scheduler, progress=_say)
    print(result.summary())


def cmd_diagram(args) -> None:
    from sdvag.report.diagram import draw
    _say(f"wrote {draw(args.model, args.out)}")


def cmd_export(args) -> None:
    from sdvag.report.export import export
    _say(f"wrote {export(args.model, to=args.to, out=args.out)}")


def cmd_check(args) -> int:
    from sdvag.analysis.checks import check_targets, format_findings
    findings = check_targets(args.target, schema=args.schema, engine=args.engine_check, progress=_say)
    print(format_findings(findings))
    return 1 if any(f.status == "fail" for f in findings) else 0


def parser() -> argparse.ArgumentParser:
    top = _Parser(prog="sdvag", description="System-dynamics models of traditional and virtual "
                                            "industrial clusters (XMILE, run by PySD).")
    sub = top.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p = sub.add_parser("list", help="the models and scenarios shipped")
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("describe", help="a model's variables: kind, units, default, range, doc")
    p.add_argument("model")
    p.set_defaults(func=cmd_describe)
    p = sub.add_parser("run", help="run a scenario file, or a model file on its defaults")
    p.add_argument("target", help="scenario (.toml) or model (.xmile, .xml, .stmx)")
    p.add_argument("--set", action="append", metavar="NAME=VALUE", help="override a constant")
    p.add_argument("--out", metavar="DIR", help="write results.nc, results.csv and plots here")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("compare", help="run several scenarios side by side")
    p.add_argument("targets", nargs="+", help="scenarios (.toml) or models")
    p.add_argument("--set", action="append", metavar="NAME=VALUE", help="override a constant in every run")
    p.add_argument("--out", metavar="DIR", help="write results.nc, results.csv and plots here")
    p.set_defaults(func=cmd_compare)
    p = sub.add_parser("data", help="the observed series shipped for calibration")
    p.set_defaults(func=cmd_data)
    p = sub.add_parser("calibrate", help="fit a model to observed series (a calibration spec)")
    p.add_argument("spec", help="calibration specification (.toml)")
    p.add_argument("--method", default=None, help="local, global or multistart (default: the spec's)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: the spec's)")
    p.add_argument("--workers", type=int, default=None, help="processes for the global search")
    p.add_argument("--out", metavar="DIR", help="write the calibrated scenario, report and fit plot here")
    p.set_defaults(func=cmd_calibrate)
    p = sub.add_parser("sensitivity", help="Monte Carlo and Sobol sensitivity (a sensitivity spec)")
    p.add_argument("spec", help="sensitivity specification (.toml)")
    p.add_argument("--out", metavar="DIR", help="write results.nc, fan charts and the ranking here")
    p.add_argument("--workers", type=int, default=None, help="local worker processes (default: all cores)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="run on a Dask distributed cluster")
    p.set_defaults(func=cmd_sensitivity)
    p = sub.add_parser("diagram", help="draw a model's stock-and-flow diagram from its <views>")
    p.add_argument("model")
    p.add_argument("--out", metavar="FILE", help="FILE.svg or FILE.png (default: MODEL_NAME.png here)")
    p.set_defaults(func=cmd_diagram)
    p = sub.add_parser("export", help="export a model for another editor")
    p.add_argument("model")
    p.add_argument("--to", choices=["mdl"], default="mdl", help="target format (Vensim .mdl)")
    p.add_argument("--out", metavar="FILE", help="output file (default: MODEL_NAME.mdl here)")
    p.set_defaults(func=cmd_export)
    p = sub.add_parser("check", help="structural and behavioural checks of a model (or 'all')")
    p.add_argument("target", help="a model file, or 'all' for every shipped model")
    p.add_argument("--schema", metavar="XSD", help="validate against this XMILE schema too")
    p.add_argument("--engine-check", action="store_true",
                   help="compare with an independent engine (needs the [engine] extra)")
    p.set_defaults(func=cmd_check)
    return top


def main(argv: list[str] | None = None) -> int:
    streams = sys.stdout, sys.stderr
    try:
        previous = {signum: signal.signal(signum, _interrupt) for signum in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread: leave signals alone
        previous = {}
    _interrupted.clear()
    sys.stdout, sys.stderr = _Printable(sys.stdout), _Printable(sys.stderr)
    try:
        args = parser().parse_args(argv)
        return args.func(args) or 0
    except KeyboardInterrupt:
        _say("interrupted")
        return 130
    except Exception as exc:
        if _interrupted:  # an interrupt can surface as another error (numpy turns an
            _say("interrupted")  # interrupted import into an ImportError)
            return 130
        if isinstance(exc, SdvagError):
            for line in str(exc).splitlines():
                _say(f"error: {line}")
            return exc.exit_status
        if isinstance(exc, BrokenPipeError):  # the reader went away (`... | head`)
            streams = open(os.devnull, "w"), streams[1]
            return 0
        if isinstance(exc, OSError):  # an output folder that cannot be written, a file that vanished
            _say(f"error: {exc.filename or ''}: {exc.strerror or exc}")
            return 2
        raise
    finally:
        sys.stdout, sys.stderr = streams
        for signum, handler in previous.items():
            signal.signal(signum, handler)
