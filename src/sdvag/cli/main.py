"""`python -m sdvag`: a thin layer over the package, turning user errors into one-line messages.

Exit status: 0 success, 2 bad input (the message says what and where), 3 a model feature that
cannot be simulated, 1 a check that found failures.
"""
from __future__ import annotations

import argparse
import os
import sys

from sdvag.report import tables as report
from sdvag.errors import SdvagError
from sdvag.simulation.scenario import load_scenario, read_toml
from sdvag.simulation.simulate import compare, run
from sdvag.model.shipped import SHIPPED, shipped_models, shipped_scenarios
from sdvag.model.named_loops import read_named_loops
from sdvag.model.xmile import read_model
from sdvag.analysis.stages import STAGE_VARIABLE



class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit status 2, like every other input error
        self.exit(2, f"error: {message} (see `python -m {self.prog} --help`)\n")


def _overrides(pairs: list[str]) -> dict[str, float]:
    values = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise SdvagError(f"--set {pair}: expected NAME=VALUE")
        try:
            values[name.strip()] = float(value)
        except ValueError:
            raise SdvagError(f"--set {pair}: {value!r} is not a number") from None
    return values


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _dominant_named_loops(ds, scenarios) -> None:
    """Under the stage table: the named loop dominating each stage longest, for models that
    name loops (computed only then, and only with the engine extra installed)."""
    if STAGE_VARIABLE not in ds:
        return
    labels = {s.model: read_named_loops(read_model(s.model)) for s in scenarios}
    named = [s for s in scenarios if labels[s.model][0] and not labels[s.model][1]]  # `loops` reports problems
    if not named:
        return
    from sdvag.analysis.loops import available, loops
    if not available():
        return
    for scenario in named:
        try:
            found = loops(scenario).dominant_named()
        except SdvagError as exc:
            _say(f"warning: dominant named loops not computed: {exc}")
            continue
        text = "; ".join(f"stage {stage}: {label} ({share:.0%} of the stage)" for stage, _, label, share in found)
        print(f"Dominant named loop [{scenario.name}]: {text or 'none'}")


def _finish(ds, out: str | None, scenarios=()) -> None:
    print(report.summary(ds))
    _dominant_named_loops(ds, scenarios)
    for warning in report.problems(ds):
        _say(warning)
    if out:
        for path in report.write_all(ds, out):
            _say(f"wrote {path}")


def cmd_list(args) -> None:
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
    named, problems = read_named_loops(info)
    if named or problems:
        print("named loops:")
    for loop in named:
        print(f"  {loop.label}: {' -> '.join((*loop.variables, loop.variables[0]))}")
    for problem in problems:
        _say(f"warning: {problem}")


def cmd_run(args) -> None:
    scenario = load_scenario(args.target, _overrides(args.set))
    _finish(run(scenario), args.out, [scenario])


def cmd_compare(args) -> None:
    scenarios = [load_scenario(t, _overrides(args.set)) for t in args.targets]
    _finish(compare(scenarios, report=_say), args.out, scenarios)


def cmd_loops(args) -> None:
    from sdvag.api import loops
    result = loops(args.target, set=_overrides(args.set), out=args.out, progress=_say)
    print(result.summary())
    for warning in result.warnings:
        _say(warning)


def _cut(spec: str, what: str) -> tuple[str, float | None]:
    """NAME or NAME=VALUE."""
    name, sep, value = spec.rpartition("=") if "=" in spec else (spec, "", "")
    if not sep:
        return spec.strip(), None
    try:
        return name.strip(), float(value)
    except ValueError:
        raise SdvagError(f"{what} {spec}: {value!r} is not a number") from None


def cmd_knockout(args) -> None:
    from sdvag.api import knockout
    from sdvag.report.knockout_output import summary
    links = []
    for spec in args.link or []:
        pair, value = _cut(spec, "--link")
        source, sep, target = pair.partition("->")
        if not sep or not source.strip() or not target.strip():
            raise SdvagError(f"--link {spec}: expected \"SOURCE -> TARGET\" (or SOURCE -> TARGET=VALUE)")
        links.append((source.strip(), target.strip(), value) if value is not None else (source.strip(), target.strip()))
    freeze = dict(_cut(spec, "--freeze") for spec in args.freeze or [])
    result = knockout(args.target, link=links, freeze=freeze, loop=args.loop, set=_overrides(args.set),
                      out=args.out, progress=_say)
    print(summary(result))


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
    _say(f"wrote {export(args.target, to=args.to, out=args.out)}")


def cmd_explore(args) -> None:
    from sdvag.explorer import serve
    serve(args.targets, port=args.port, folder=args.folder, announce=lambda text: print(text, flush=True))


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
    p = sub.add_parser("export", help="export a model for another editor, or a scenario as a model file")
    p.add_argument("target", help="a model (--to mdl), or a scenario or model (--to xmile)")
    p.add_argument("--to", choices=["mdl", "xmile"], default="mdl",
                   help="Vensim .mdl, or XMILE with the scenario applied")
    p.add_argument("--out", metavar="FILE", help="output file (default: NAME.mdl or NAME.xmile here)")
    p.set_defaults(func=cmd_export)
    p = sub.add_parser("loops", help="feedback loops, their scores and dominance by period and stage")
    p.add_argument("target", help="scenario (.toml) or model")
    p.add_argument("--set", action="append", metavar="NAME=VALUE", help="override a constant")
    p.add_argument("--out", metavar="DIR", help="write loops.csv, dominance.csv and the dominance plot here")
    p.set_defaults(func=cmd_loops)
    p = sub.add_parser("knockout", help="run a scenario with links cut or variables frozen, beside the intact run")
    p.add_argument("target", help="scenario (.toml) or model")
    p.add_argument("--link", action="append", metavar='"SOURCE -> TARGET[=VALUE]"',
                   help="TARGET sees SOURCE at its start-time value (or VALUE)")
    p.add_argument("--freeze", action="append", metavar="NAME[=VALUE]",
                   help="every use of NAME sees its start-time value (or VALUE)")
    p.add_argument("--loop", action="append", metavar="NAME", help="cut a named loop (R1, or its name) at one link")
    p.add_argument("--set", action="append", metavar="NAME=VALUE", help="override a constant")
    p.add_argument("--out", metavar="DIR", help="write both runs (results.nc, results.csv) and overlay plots here")
    p.set_defaults(func=cmd_knockout)
    p = sub.add_parser("explore", help="explore scenarios in the browser: sliders, live runs, bands, saving")
    p.add_argument("targets", nargs="*", help="scenarios (.toml) or models to offer first (default: the shipped ones)")
    p.add_argument("--port", type=int, default=None, help="port on 127.0.0.1 (default: a free one)")
    p.add_argument("--folder", default="explorer_saved", help="where Save writes (default: ./explorer_saved)")
    p.set_defaults(func=cmd_explore)
    p = sub.add_parser("check", help="structural and behavioural checks of a model (or 'all')")
    p.add_argument("target", help="a model file, or 'all' for every shipped model")
    p.add_argument("--schema", metavar="XSD", help="validate against this XMILE schema too")
    p.add_argument("--engine-check", action="store_true",
                   help="compare with an independent engine (needs the [engine] extra)")
    p.set_defaults(func=cmd_check)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        status = args.func(args)
    except SdvagError as exc:
        for line in str(exc).splitlines():
            _say(f"error: {line}")
        return exc.exit_status
    except BrokenPipeError:  # the reader went away (`... | head`): nothing left to say
        sys.stdout = open(os.devnull, "w")
        return 0
    except OSError as exc:  # an output folder that cannot be written, a file that vanished
        _say(f"error: {exc.filename or ''}: {exc.strerror or exc}")
        return 2
    except KeyboardInterrupt:
        _say("interrupted")
        return 130
    return status or 0
