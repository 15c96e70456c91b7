"""Structural and behavioural tests of a model (Forrester and Senge 1980; Barlas 1996; Sterman
2000 ch. 21), as one call: the schema, sdvag's own structural rules, the diagram, documentation,
units, extreme conditions, integration error and, optionally, a second simulation engine.

Each check returns Findings (pass, warn or fail, with the variables concerned), so scripts can
act on them and the CLI can print them. The house rules of the shipped models (a <doc> and
<units> on every variable, a <range> on every constant, every unit declared, a diagram with a
connector for every dependency) only warn about a user's model, as Stella and Vensim do not
require them; `strict` makes them fail.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from sdvag.analysis import CHECKS
from sdvag.errors import SdvagError, UnsupportedFeature, suggest
from sdvag.simulation.scenario import Scenario, load_scenario
from sdvag.model.shipped import shipped_models, shipped_scenarios
from sdvag.simulation.simulate import Simulator, columns_of, default_outputs, to_dataset
from sdvag.model.names import spaced_names, spacing_hint
from sdvag.model.arrays import without_subscripts
from sdvag.model.support import BUILTINS, KEYWORDS, references, unsupported
from sdvag.model.units import check_units
from sdvag.model.views import connectors, inside, read_view
from sdvag.model.xmile import VENSIM_SUFFIX, ModelInfo, canonical, read_model

INTEGRATION_TOLERANCE = 0.01
INTEGRATION_FLOOR = 0.01  # an output's change is judged against at least 1% of its largest magnitude
ENGINE_TOLERANCE = 1e-6
FLOW_END_SLACK = 6.0  # how far outside its stock's outline a pipe may end and still be attached


@dataclass(frozen=True)
class Finding:
    model: str
    check: str
    status: str  # "pass", "warn" or "fail"
    message: str
    variables: tuple[str, ...] = ()


def _listing(names, limit: int = 6) -> str:
    names = list(names)
    shown = ", ".join(f"'{n}'" for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


class _Findings(list):
    def __init__(self, model: str, strict: bool = False):
        super().__init__()
        self.model, self.strict = model, strict

    def add(self, check: str, status: str, message: str, variables=()):
        self.append(Finding(self.model, check, status, message, tuple(variables)))

    def house_rule(self, check: str, message: str, variables=()):
        """A breach of a house rule: a failure when strict, else a warning."""
        self.add(check, "fail" if self.strict else "warn", message, variables)


@lru_cache(maxsize=4)
def _schema(path: str):
    from lxml import etree
    try:
        return etree.XMLSchema(etree.parse(path))
    except (OSError, etree.XMLSchemaParseError, etree.XMLSyntaxError) as exc:
        raise SdvagError(f"{path}: not a readable XML schema ({exc})") from None


def check_schema(info: ModelInfo, xsd: str | Path, out: _Findings) -> None:
    from lxml import etree
    schema = _schema(str(Path(xsd).resolve()))
    try:
        valid = schema.validate(etree.parse(str(info.path)))
    except etree.XMLSyntaxError as exc:
        out.add("schema", "fail", f"not well-formed XML: {exc}")
        return
    if valid:
        out.add("schema", "pass", f"valid against {Path(xsd).name}")
        return
    spans = [(v.node.sourceline, max(d.sourceline or 0 for d in v.node.iter()) + 1, v.name)
             for v in info.variables.values() if v.node is not None and v.node.sourceline]
    errors, named = [], []
    for error in list(schema.error_log)[:3]:
        owner = [name for first, last, name in spans if first <= error.line <= last]
        where = f" (in '{owner[-1]}')" if owner else ""
        named += owner[-1:]
        errors.append(f"line {error.line}{where}: {error.message}")
    out.add("schema", "fail", f"{len(schema.error_log)} schema errors, first: " + "; ".join(errors), named)


def check_structure(info: ModelInfo, out: _Findings) -> None:
    """Flows attached as declared, every referenced name defined (names are unique: a model
    that defines one twice is refused when read)."""
    flows = {canonical(v.name): v for v in info.variables.values() if v.kind == "flow"}
    attached: dict[str, int] = {}
    for stock in (v for v in info.variables.values() if v.kind == "stock"):
        for flow in (*stock.inflows, *stock.outflows):
            if canonical(flow) not in flows:
                out.add("structure", "fail", f"stock '{stock.name}' names flow '{flow}', which is not a flow",
                        [stock.name])
            attached[canonical(flow)] = attached.get(canonical(flow), 0) + 1
    loose = [f.name for key, f in flows.items() if key not in attached]
    if loose:
        out.add("structure", "warn", f"flows attached to no stock: {_listing(loose)}", loose)
    names = {canonical(v) for v in info.variables}
    dimensions = {canonical(d) for v in info.variables.values() for d in v.dimensions}
    undefined = []
    for var in info.variables.values():
        for name, called in references(without_subscripts(var.equation)):  # subscripts name dimensions
            element = "." in name and name.partition(".")[0] in dimensions  # Region.East
            own = name in {canonical(d) for d in var.dimensions}  # its dimension: the position
            if name not in names | KEYWORDS and not element and not own and not (called and name in BUILTINS):
                undefined.append((var.name, name))
    spaced = dict(spaced_names(info))
    for owner, name in undefined:
        if owner not in spaced:
            out.add("structure", "fail", f"'{owner}' uses '{name}', which is not defined", [owner])
    for owner in dict.fromkeys(owner for owner, _ in undefined if owner in spaced):
        out.add("structure", "fail", spacing_hint(owner, spaced[owner]), [owner])
    if not undefined and not any(f.check == "structure" for f in out):
        out.add("structure", "pass", f"{len(info.variables)} variables, names unique and defined")


def check_diagram(info: ModelInfo, out: _Findings) -> None:
    """Every variable placed, flows drawn from and to their stocks, a connector per dependency."""
    if info.path.suffix.lower() == VENSIM_SUFFIX:  # a house rule Vensim's own sketch cannot meet
        out.add("diagram", "warn", "not checked: sdvag does not read Vensim's sketch")
        return
    try:
        view, shapes, by_uid, named = read_view(info)
    except SdvagError:
        out.house_rule("diagram", "no stock-and-flow diagram in <views>")
        return
    placed = [v.name for v in info.variables.values() if v.kind != "gf" and canonical(v.name) not in named]
    if placed:
        out.add("diagram", "fail", f"variables with no positioned view element: {_listing(placed)}", placed)
    detached = []
    for stock in (v for v in info.variables.values() if v.kind == "stock"):
        box = named.get(canonical(stock.name))
        for flow, end in [(f, -1) for f in stock.inflows] + [(f, 0) for f in stock.outflows]:
            pipe = named.get(canonical(flow))
            if box is None or pipe is None or not pipe.pts or not inside(pipe.pts[end], box.box, FLOW_END_SLACK):
                detached.append(f"{flow} -> {stock.name}" if end == -1 else f"{stock.name} -> {flow}")
    if detached:
        out.add("diagram", "fail", f"flows not drawn to or from their stock: {_listing(detached)}", detached)
    drawn = {(canonical(a.name), canonical(b.name)) for a, b, _ in connectors(view, named, by_uid)}
    missing = []
    for var in info.variables.values():
        if var.kind == "stock":
            continue  # a stock's equation is its initial value, not drawn as connectors
        for name, _ in references(var.equation):
            if info.find(name) is not None and (name, canonical(var.name)) not in drawn:
                missing.append(f"{info.find(name).name} -> {var.name}")
    missing = sorted(set(missing))
    if missing:
        out.house_rule("diagram", f"dependencies with no connector: {_listing(missing)}", missing)
    if not placed and not detached and not missing:
        out.add("diagram", "pass", f"{len(shapes)} elements placed, {len(drawn)} connectors")


def check_documentation(info: ModelInfo, out: _Findings) -> None:
    no_doc = [v.name for v in info.variables.values() if not v.doc.strip()]
    no_units = [v.name for v in info.variables.values() if not v.units.strip()]
    no_range = [v.name for v in info.variables.values() if v.is_constant and v.range is None]
    for what, names in (("no <doc>", no_doc), ("no <units>", no_units), ("constants with no <range>", no_range)):
        if names:
            out.house_rule("documentation", f"{what}: {_listing(names)}", names)
    if not (no_doc or no_units or no_range):
        out.add("documentation", "pass", "every variable documented with units; every constant has a range")


def check_unit_consistency(info: ModelInfo, out: _Findings) -> None:
    issues, undeclared = check_units(info)
    for issue in issues:
        out.add("units", "fail", f"'{issue.variable}': {issue.message}", [issue.variable])
    if undeclared and info.path.suffix.lower() != VENSIM_SUFFIX:  # Vensim declares no unit names
        out.house_rule("units", f"unit names not declared in <model_units>: {_listing(sorted(undeclared))}")
    with_units = sum(bool(v.units.strip()) for v in info.variables.values())
    if not with_units:
        out.add("units", "warn", "no variable declares units: nothing to check")
    elif not issues:
        out.add("units", "pass", f"every equation dimensionally consistent ({with_units} variables with units)")


def _run(sim: Simulator, scenario: Scenario, params: dict, times: dict, initial=None,
         columns=None) -> xr.Dataset:
    """One run of the model with these changes, its variables named as in the model."""
    frame = sim.run_frame(params, times, columns, initial=initial)
    return to_dataset(frame, sim.info, scenario, times)


def _constants(sim: Simulator, scenario: Scenario) -> dict:
    """Every constant at the scenario's value (its own where the scenario keeps it), with the
    scenario's graphical functions, inputs and policies: runs that vary some constants all
    change the same set of names, so the compiled model is reused without reloading."""
    own = {v.name: v.default for v in sim.info.variables.values() if v.is_constant}
    return {**own, **sim.params(scenario)}


def check_extremes(sim: Simulator, scenario: Scenario, out: _Findings, progress=None) -> None:
    """Each constant at each end of its range, and every stock starting at zero: no NaN, no
    infinity, no negative value in a stock that is non-negative (declared so, or never negative
    in the base run)."""
    info = sim.info
    times = sim.time_settings(scenario)
    constants = _constants(sim, scenario)
    base = _run(sim, scenario, constants, times)
    stocks = [v for v in info.variables.values() if v.kind == "stock"]
    nonneg = [name for v in stocks for name in columns_of(base, v.name)  # arrays by element
              if v.non_negative or (base[name] >= 0).all()]
    cases = [(f"'{name}' = {bound:g}", {**constants, name: bound}, None)
             for name, var in info.variables.items() if var.is_constant and var.range
             for bound in var.range]
    cases.append(("every stock starting at 0", constants, {v.name: 0.0 for v in stocks}))
    if progress:
        progress(f"{info.path.name}: extreme conditions, {len(cases)} runs")
    failures = 0
    for label, params, initial in cases:
        try:
            ds = _run(sim, scenario, params, times, initial)
        except UnsupportedFeature as exc:
            out.add("extreme", "fail", f"{label}: the run failed ({exc})")
            failures += 1
            continue
        nonfinite = [name for name, da in ds.data_vars.items() if not np.isfinite(da).all()]
        negative = [name for name in nonneg if (ds[name] < -1e-9).any()]
        if nonfinite:
            out.add("extreme", "fail", f"{label}: NaN or infinity in {_listing(nonfinite)}", nonfinite)
        if negative:
            out.add("extreme", "fail", f"{label}: negative values in {_listing(negative)}", negative)
        failures += bool(nonfinite or negative)
    if not failures:
        out.add("extreme", "pass", f"{len(cases)} extreme runs: no NaN, infinity or negative stock")


def key_outputs(info: ModelInfo, scenario: Scenario | None = None) -> list[str]:
    """The outputs the scenario being checked reports; for a bare model, those its shipped
    scenarios report; the stocks if none does."""
    if scenario is not None and scenario.outputs:
        return list(scenario.outputs)
    names: list[str] = []
    for path in shipped_scenarios():
        try:
            scenario = load_scenario(path)
        except SdvagError:
            continue
        if Path(scenario.model).resolve() == info.path.resolve():
            names += [n for n in scenario.outputs if n not in names]
    return names or default_outputs(info)


def integration_error(sim: Simulator, scenario: Scenario, outputs: list[str] | None = None) -> dict[str, float]:
    """Relative change of each output at the final time when dt is halved: relative to its final
    value, but never to less than INTEGRATION_FLOOR of its largest magnitude over the run, so
    that a stock ending near zero (the potential adopters of a Bass model) is judged on its
    scale, not on a vanishing denominator."""
    times = sim.time_settings(scenario)
    outputs = outputs or key_outputs(sim.info, scenario)
    params = _constants(sim, scenario)
    coarse = _run(sim, scenario, params, times, columns=outputs)
    fine = _run(sim, scenario, params, {**times, "dt": times["dt"] / 2}, columns=outputs)
    changes = {}
    for name in (column for output in outputs for column in columns_of(coarse, output)):  # arrays by element
        a, b = float(coarse[name][-1]), float(fine[name][-1])
        scale = max(abs(b), INTEGRATION_FLOOR * float(np.nanmax(np.abs(fine[name].to_numpy()), initial=0.0)))
        changes[name] = abs(a - b) / scale if scale > 0 else abs(a - b)
    return changes


def check_integration(sim: Simulator, scenario: Scenario, out: _Findings,
                      tolerance: float = INTEGRATION_TOLERANCE) -> None:
    changes = integration_error(sim, scenario)
    worst = {k: v for k, v in changes.items() if not v < tolerance}
    if worst:
        out.add("integration", "fail", "halving dt changes the final " + ", ".join(
            f"'{k}' by {v:.2%}" for k, v in sorted(worst.items(), key=lambda kv: -kv[1])[:6])
            + f" (tolerance {tolerance:.0%})", list(worst))
    else:
        top = max(changes.items(), key=lambda kv: kv[1]) if changes else ("", 0.0)
        out.add("integration", "pass", f"halving dt changes the final key outputs by at most "
                                       f"{top[1]:.3%} ('{top[0]}')")


class EngineFailure(SdvagError):
    """The independent engine could not run a model that PySD runs."""


def trajectory_differences(ds: xr.Dataset, frame: pd.DataFrame) -> dict[str, float]:
    """How far another engine's run (`frame`, columns named as the model's variables in any
    case or spacing) is from an sdvag run, variable by variable: the largest difference over
    the common times, relative to the variable's largest magnitude; infinite for a variable
    the other run lacks or where only one of the two is NaN."""
    columns = {canonical(str(c)): c for c in frame.columns}
    ours = np.round(ds["time"].to_numpy().astype(float), 9)
    theirs = np.round(np.asarray(frame.index, dtype=float), 9)
    _, i_ours, i_theirs = np.intersect1d(ours, theirs, return_indices=True)
    diffs = {}
    for name, da in ds.data_vars.items():
        column = columns.get(canonical(name))
        if column is None or i_ours.size == 0:
            diffs[name] = math.inf
            continue
        a = da.to_numpy()[i_ours]
        b = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)[i_theirs]
        if not np.array_equal(np.isnan(a), np.isnan(b)):
            diffs[name] = math.inf
            continue
        scale = max(np.nanmax(np.abs(a), initial=0.0), 1e-12)
        diffs[name] = float(np.nanmax(np.abs(a - b), initial=0.0) / scale)
    return diffs


def engine_differences(sim: Simulator, scenario: Scenario) -> dict[str, float]:
    """trajectory_differences between PySD (through sdvag) and Simlin on the model's own values."""
    try:
        import simlin
    except ImportError:
        raise SdvagError("the engine check needs the engine extra: pip install 'sdvag[engine]'") from None
    try:
        theirs = simlin.load(str(sim.info.path)).run().results
    except Exception as exc:  # the other engine cannot read or run the model
        raise EngineFailure(f"Simlin could not run the model: {type(exc).__name__}: {exc}") from None
    return trajectory_differences(_run(sim, scenario, _constants(sim, scenario), sim.time_settings(scenario)), theirs)


def check_engine(sim: Simulator, scenario: Scenario, out: _Findings) -> None:
    try:
        diffs = engine_differences(sim, scenario)
    except EngineFailure as exc:
        out.add("engine", "fail", str(exc))
        return
    except SdvagError as exc:  # the engine extra is not installed
        out.add("engine", "warn", str(exc))
        return
    bad = {k: v for k, v in diffs.items() if not v <= ENGINE_TOLERANCE}
    if bad:
        out.add("engine", "fail", "PySD and Simlin differ on " + ", ".join(
            f"'{k}' ({v:.2e})" for k, v in sorted(bad.items(), key=lambda kv: -kv[1])[:6]), list(bad))
    elif not diffs:
        out.add("engine", "fail", "no variable in common between PySD and Simlin")
    else:
        out.add("engine", "pass", f"PySD and Simlin agree on {len(diffs)} variables "
                                  f"(largest relative difference {max(diffs.values()):.1e})")


def selected_checks(only=None, skip=None, engine: bool = False) -> set[str]:
    """The checks to run: `only` (default all but the engine check, unless `engine`) less `skip`."""
    for name in [*(only or ()), *(skip or ())]:
        if name not in CHECKS:
            raise SdvagError(f"unknown check {name!r}{suggest(name, CHECKS)} (checks: {', '.join(CHECKS)})")
    wanted = set(only or CHECKS)
    if not (engine or only):
        wanted.discard("engine")
    return wanted - set(skip or ())


def check(target: str | Path, schema: str | Path | None = None, engine: bool = False,
          only=None, skip=None, strict: bool = False, progress=None) -> list[Finding]:
    """The checks of one model file, or of a scenario file's model run as the scenario sets it
    (its constants, time settings and key outputs); `only` and `skip` choose among CHECKS.
    `strict` makes the house rules (documentation, declared units, diagram) fail instead of warn."""
    scenario = load_scenario(target) if Path(target).suffix.lower() == ".toml" else None
    info = read_model(scenario.model if scenario else target)
    out = _Findings(Path(target).name if scenario else info.path.name, strict)
    wanted = selected_checks(only, skip, engine)
    problems = unsupported(info)
    if "support" in wanted:
        for feature, variable in problems:
            out.add("support", "fail", f"cannot simulate {feature}" + (f" in '{variable}'" if variable else ""),
                    [variable] if variable else [])
        if not problems:
            out.add("support", "pass", "every feature is one PySD simulates correctly")
    if "schema" in wanted and schema:
        check_schema(info, schema, out)
    static = {"structure": check_structure, "diagram": check_diagram,
              "documentation": check_documentation, "units": check_unit_consistency}
    for name, fn in static.items():
        if name in wanted:
            fn(info, out)
    dynamic = [c for c in ("extreme", "integration", "engine") if c in wanted]
    if dynamic and not problems:
        try:
            sim = Simulator.for_model(info.path, info.data)  # the bytes checked above
        except SdvagError as exc:
            out.add("support", "fail", str(exc))
            return list(out)
        scenario = scenario or load_scenario(info.path)
        if "extreme" in wanted:
            check_extremes(sim, scenario, out, progress)
        if "integration" in wanted:
            check_integration(sim, scenario, out)
        if "engine" in wanted:  # the other engine runs the file itself: compare on the model's own values
            check_engine(sim, load_scenario(info.path), out)
    return list(out)


def check_targets(target: str, schema=None, engine=False, only=None, skip=None, strict=False,
                  progress=None) -> list[Finding]:
    """`check` on a model or scenario file, or on every shipped model for `all`."""
    models = shipped_models() if target == "all" else [Path(target)]
    if not models:
        raise SdvagError("no shipped models found")
    findings = []
    for path in models:
        if progress:
            progress(f"checking {path}")
        findings += check(path, schema=schema, engine=engine, only=only, skip=skip, strict=strict,
                          progress=progress)
    return findings


def format_findings(findings: list[Finding]) -> str:
    lines = [f"{f.status.upper():4}  {f.model}  {f.check}: {f.message}" for f in findings]
    counts = {s: sum(f.status == s for f in findings) for s in ("pass", "warn", "fail")}
    lines.append(f"{counts['pass']} pass, {counts['warn']} warn, {counts['fail']} fail")
    return "\n".join(lines)
