"""What each `sdvag` command does, given its parsed arguments (the parser is in cli/main.py).

Shipped models, scenarios and specifications are found by name (sdvag.model.shipped.locate), so
every command works from any folder.
"""
from __future__ import annotations

import sys

from sdvag.errors import SdvagError, shown
from sdvag.model.named_loops import read_named_loops
from sdvag.model.shipped import SHIPPED, init, locate, shipped
from sdvag.model.xmile import VENSIM_SUFFIX, read_model

# Simulation, analyses and reports (and PySD with them) are imported by the commands that use
# them, once main() has set its signal handlers: Ctrl-C during start-up ends quietly too.


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def overrides(pairs: list[str] | None) -> dict[str, float]:
    from sdvag.simulation.scenario import number_from_text
    values = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise SdvagError(f"--set {shown(pair)}: expected NAME=VALUE")
        number = number_from_text(value)
        if number is None:
            raise SdvagError(f"--set {shown(pair)}: {shown(value)!r} is not a number")
        values[name.strip()] = number
    return values


def names(text: str | None) -> list[str] | None:
    """A comma-separated list (`--outputs "Member Firms,Evolution Stage"`), or None."""
    return [part.strip() for part in text.split(",") if part.strip()] if text else None


def years(text: str | None) -> list[float] | None:
    items = names(text)
    try:
        return [float(y) for y in items] if items else None
    except ValueError:
        raise SdvagError(f"--years {text}: expected years separated by commas, such as 2010,2020,2035") from None


def _model_path(target: str):
    """A model file, a shipped model by name, or the model of a scenario (file or name)."""
    from sdvag.simulation.scenario import load_scenario
    path = locate(target, ("model", "scenario"))
    return load_scenario(path).model if path.suffix.lower() == ".toml" else path


def _finish(ds, args, scenarios=()) -> None:
    from sdvag.report import tables as report
    ds = report.choose_outputs(ds, names(args.outputs))
    print(report.summary(ds, years(args.years)))
    _dominant_named_loops(ds, scenarios)
    for warning in report.problems(ds):
        say(warning)
    if args.out:
        for path in report.write_all(ds, args.out, formats=names(args.format) or ("png",)):
            say(f"wrote {path}")


def _dominant_named_loops(ds, scenarios) -> None:
    """Under the stage table: the named loop dominating each stage longest, for models that
    name loops (computed only then, and only with the engine extra installed)."""
    from sdvag.analysis.stages import STAGE_VARIABLE
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
            say(f"warning: dominant named loops not computed: {exc}")
            continue
        text = "; ".join(f"stage {stage}: {label} ({share:.0%} of the stage)" for stage, _, label, share in found)
        print(f"Dominant named loop [{scenario.name}]: {text or 'none'}")


def cmd_list(args) -> None:
    if not shipped("model"):
        raise SdvagError(f"no shipped models or scenarios found in the package ({SHIPPED})")
    sections = [("models", "model", "sdvag describe NAME, sdvag run NAME"),
                ("scenarios", "scenario", "sdvag run NAME"),
                ("calibration specifications", "calibration", "sdvag calibrate NAME"),
                ("sensitivity specifications", "sensitivity", "sdvag sensitivity NAME")]
    for title, kind, usage in sections:
        items = shipped(kind)
        width = max((len(p.stem) for p in items), default=0)
        print(f"{title} ({usage}):")
        for path in items:
            print(f"  {path.stem.ljust(width)}  {_title(path, kind)}")
    print(f"(shipped in {SHIPPED}; `sdvag init DIR` copies them into a folder to edit)")


def _title(path, kind: str) -> str:
    from sdvag.simulation.scenario import read_toml
    if kind == "model":
        return read_model(path).name
    try:
        return read_toml(path, "scenario file").get("title", "")
    except SdvagError:
        return "(not valid TOML)"


def cmd_init(args) -> None:
    for path in init(args.folder):
        say(f"wrote {path}")
    say(f"run a copied scenario with: sdvag run {args.folder}/scenarios/tic_baseline.toml")


def cmd_describe(args) -> None:
    info = read_model(_model_path(args.model))
    if args.variable:
        print(describe_variable(info, args.variable))
        return
    s = info.sim
    times = (f"time settings computed as it runs ({', '.join(s.computed)}; {s.time_units})" if s.computed
             else f"time {s.start:g} to {s.stop:g} {s.time_units}, dt {s.dt:g}")
    print(f"{info.name} ({info.path.name}): {times}")
    order = {"stock": 0, "flow": 1, "auxiliary": 2, "graphical": 3, "constant": 4}
    for var in sorted(info.variables.values(), key=lambda v: (order.get(v.role, 5), v.name.lower())):
        print(f"{var.name}: {', '.join(_facts(var))}")
        if var.doc:
            print(f"    {' '.join(var.doc.split())}")
    named, problems = read_named_loops(info)
    if named or problems:
        print("named loops:")
    for loop in named:
        print(f"  {loop.label}: {' -> '.join((*loop.variables, loop.variables[0]))}")
    for problem in problems:
        say(f"warning: {problem}")


def _facts(var) -> list[str]:
    bits = [var.role, var.units or "(no units)"]
    if var.dimensions:
        bits.insert(1, f"array over {', '.join(var.dimensions)}")
    if var.is_constant:
        bits.append(f"default {var.default:g}")
    if var.range:
        bits.append(f"range [{var.range[0]:g}, {var.range[1]:g}]")
    return bits


def describe_variable(info, name: str) -> str:
    """One variable: kind, units, range, equation (a stock's flows and initial value), what it
    uses and what uses it, and its doc."""
    from sdvag.errors import suggest
    from sdvag.model.names import used_by, uses
    var = info.find(name)
    if var is None:
        raise SdvagError(f"unknown variable {name!r} in {info.path.name}{suggest(name, info.variables)}")
    lines = [f"{var.name}: {', '.join(_facts(var))}"]
    if info.path.suffix.lower() == VENSIM_SUFFIX:  # its equations are only in PySD's translation
        from sdvag.simulation.simulate import Simulator
        lines.append(f"  equation:  {var.equation or '(see the .mdl: sdvag reads Vensim equations through PySD)'}")
        try:
            uses_of = Simulator.for_model(info.path).uses()
            found = uses_of[var.name], [n for n, used in uses_of.items() if var.name in used]
        except SdvagError as exc:  # a model sdvag refuses to compile
            found = [f"(not known: {exc})"], ["(not known)"]
    elif var.kind == "stock":
        flows = [f"+ {f}" for f in var.inflows] + [f"- {f}" for f in var.outflows]
        lines.append(f"  change:    d/dt = {' '.join(flows) if flows else '0'}")
        lines.append(f"  initial:   {var.equation}")
    elif var.graphical is not None:
        g = var.graphical
        lines.append(f"  equation:  {var.equation or 'TIME'} (input of a graphical function)")
        lines.append("  points:    " + ", ".join(f"({x:g}, {y:g})" for x, y in zip(g.x, g.y)))
    else:
        lines.append(f"  equation:  {var.equation or ('(element by element)' if var.dimensions else '')}")
    if info.path.suffix.lower() != VENSIM_SUFFIX:
        found = uses(info, var), used_by(info, var)
    lines.append(f"  uses:      {', '.join(found[0]) or '(nothing)'}")
    lines.append(f"  used by:   {', '.join(found[1]) or '(nothing)'}")
    if var.doc:
        lines.append(f"  doc:       {' '.join(var.doc.split())}")
    return "\n".join(lines)


def cmd_run(args) -> None:
    from sdvag.simulation.scenario import load_scenario
    from sdvag.simulation.simulate import run
    scenario = load_scenario(args.target, overrides(args.set), args.allow_out_of_range)
    _finish(run(scenario, progress=sys.stderr.isatty()), args, [scenario])


def cmd_compare(args) -> None:
    from sdvag.simulation.scenario import load_scenario
    from sdvag.simulation.simulate import compare
    scenarios = [load_scenario(t, overrides(args.set), args.allow_out_of_range) for t in args.targets]
    _finish(compare(scenarios, report=say), args, scenarios)


def cmd_loops(args) -> None:
    from sdvag.api import loops
    result = loops(locate(args.target, ("scenario", "model")), set=overrides(args.set), out=args.out,
                   progress=say)
    print(result.summary())
    for warning in result.warnings:
        say(warning)


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
    result = knockout(locate(args.target, ("scenario", "model")), link=links, freeze=freeze, loop=args.loop,
                      set=overrides(args.set), out=args.out, progress=say)
    print(summary(result))


def cmd_data(args) -> None:
    from sdvag import data
    if args.name:
        print(data.describe(args.name, args.file))
    else:
        print(data.catalogue(args.file))


def cmd_calibrate(args) -> None:
    from sdvag.api import calibrate
    result = calibrate(locate(args.spec, ("calibration",)), method=args.method, seed=args.seed,
                       out=args.out, workers=args.workers, progress=say, holdout_from=args.holdout_from)
    print(result.summary())


def cmd_sensitivity(args) -> None:
    from sdvag.api import sensitivity_file
    result = sensitivity_file(locate(args.spec, ("sensitivity",)), out=args.out, workers=args.workers,
                              scheduler=args.scheduler, progress=say)
    print(result.summary())


def cmd_diagram(args) -> None:
    from sdvag.report.diagram import draw
    say(f"wrote {draw(_model_path(args.model), args.out)}")


def cmd_export(args) -> None:
    from sdvag.report.export import export
    target = _model_path(args.target) if args.to == "mdl" else locate(args.target, ("scenario", "model"))
    say(f"wrote {export(target, to=args.to, out=args.out)}")


def cmd_check(args) -> int:
    from sdvag.analysis.checks import check_targets, format_findings
    target = args.target if args.target == "all" else str(locate(args.target, ("model", "scenario")))
    if not args.schema:
        say("note: no --schema given, so the file is not validated against the XMILE 1.0 schema; pass "
            "--schema PATH/xmile-v1.0.xsd (the OASIS schema: docs.oasis-open.org/xmile/xmile/v1.0; "
            "in this project's workspace at ../shared/xmile/xmile-v1.0.xsd)")
    findings = check_targets(target, schema=args.schema, engine=args.engine_check, only=names(args.only),
                             skip=names(args.skip), strict=args.strict, progress=say)
    print(format_findings(findings))
    return 1 if any(f.status == "fail" for f in findings) else 0


def cmd_explore(args) -> None:
    from sdvag.explorer import serve
    serve(args.targets, port=args.port, folder=args.folder, announce=lambda text: print(text, flush=True))
