"""Refuse what PySD cannot simulate correctly, before it gets the chance to simulate it wrongly.

PySD's XMILE translator drops modules, macros, conveyors and queues, and fails on or
misreads some builtins. Every builtin allowed here was run by PySD and by an independent engine
(Simlin) or against its closed form, with agreeing trajectories (tests/test_support.py keeps
the closed-form checks); anything else is refused with the feature and the variable named.
"""
from __future__ import annotations

import math

from sdvag.errors import SdvagError, UnsupportedFeature, suggest
from sdvag.model.arrays import array_problems, dimension_problems, without_subscripts
from sdvag.model.builtins import (PYSD_CONTROLS, REWRITTEN, AmbiguousForm, graph_helpers,
                                  names_and_dimensions, rewrite_equation, untranslated_call)
from sdvag.model.rewrite import equation_name
from sdvag.model.active_initial import initial_equation_problems
from sdvag.model.delays import stale_delay_inputs
from sdvag.model.xmile import (VENSIM_SUFFIX, ModelInfo, canonical, child, children, equation_text, is_name,
                               local, tokens)

# Builtins PySD 3.14 simulates correctly from XMILE (lower case).
BUILTINS = frozenset({
    "abs", "exp", "ln", "sqrt", "min", "max", "sin", "cos", "tan", "arcsin", "arccos", "arctan",
    "int", "step", "ramp", "pulse", "safediv", "smth1", "smth3", "smthn", "delay", "delay1",
    "delay3", "delayn", "trend", "init", "log", "modulo", "sum", "prod", "sinh", "cosh", "tanh",
    "vmax", "vmin",  # PySD's reductions over the `!` dimensions (arrays.reduction writes them)
}) | REWRITTEN
KEYWORDS = frozenset({"if", "then", "else", "and", "or", "not", "time"})
# XMILE's and Stella's random builtins: each vendor has its own stream (and seeding), so a run
# of sdvag's own could be checked against no other engine; PySD's XMILE reader has none.
RANDOM = frozenset({"random", "normal", "uniform", "exprnd", "lognormal", "poisson", "binomial",
                    "negbinomial", "gamma", "beta", "triangular", "weibull", "pareto", "logistic",
                    "geometric"})
# Builtins with a state that the integration method moves (smoothing, delays, trends).
INTEGRATING = frozenset({"smth1", "smth3", "smthn", "delay", "delay1", "delay3", "delayn", "trend",
                         "forcst", "npv"})


def references(equation: str) -> list[tuple[str, bool]]:
    """The names an equation uses, each with whether it is called as a function."""
    toks = tokens(equation)
    found = []
    for i, tok in enumerate(toks):
        if is_name(tok):
            called = i + 1 < len(toks) and toks[i + 1] == "("
            if called and canonical(tok) not in KEYWORDS | {"mod"}:  # a Vensim-style name of
                # several words: `VECTOR SORT ORDER(`
                while found and not found[-1][1] and i > 0 and is_name(toks[i - 1]) \
                        and canonical(toks[i - 1]) not in KEYWORDS | {"mod"}:
                    tok = toks[i - 1] + " " + tok
                    found.pop()
                    i -= 1
            found.append((canonical(tok), called))
    return found


def integration_method(info: ModelInfo) -> str:
    """The method the model must be integrated with, lower case: its own, or "euler" for an
    XMILE model with no stock and no smoothing, delay or trend, which every method computes
    alike (there is nothing to integrate), so PySD runs it whatever it declares."""
    method = info.sim.method.strip().lower() or "euler"
    if info.path.suffix.lower() == VENSIM_SUFFIX or any(v.kind == "stock" for v in info.variables.values()):
        return method
    for eqn in info.root.iter("{*}eqn"):
        toks = tokens(eqn.text or "")
        if any(is_name(t) and canonical(t) in INTEGRATING and toks[i + 1:i + 2] == ["("]
               for i, t in enumerate(toks)):
            return method
    return "euler"


def unsupported(info: ModelInfo, integrators: tuple[str, ...] = ("euler",)) -> list[tuple[str, str | None]]:
    """Every (feature, variable) in the model that PySD cannot be trusted to simulate.
    `integrators`: the integration methods of the engine that will run it (PySD: Euler only;
    sdvag's vectorised engine: Euler and RK4)."""
    if info.path.suffix.lower() == VENSIM_SUFFIX:
        return list(info.refusals)  # found while reading PySD's parse of the file (vensim.py)
    problems: list[tuple[str, str | None]] = []
    root = info.root
    for model in children(root, "model"):
        for holder in children(model, "variables"):
            for module in children(holder, "module"):
                problems.append(("modules", module.get("name")))
    for macro in root.iter("{*}macro"):
        problems.append(("macros", macro.get("name")))
    method = integration_method(info)
    if method not in integrators:
        problems.append((f"integration method {info.sim.method} (PySD integrates with Euler only)"
                         if integrators == ("euler",) else f"integration method {info.sim.method}", None))
    problems += dimension_problems(info)
    names, dims, positions = names_and_dimensions(info)
    helpers = {key: helper for key, (helper, _) in graph_helpers(info.root, names).items()}
    graphs = {key: equation_name(helper) for key, helper in helpers.items()}
    helper_names = {canonical(helper) for helper in helpers.values()}
    kinds = {canonical(v.name): v.kind for v in info.variables.values()}
    equations: dict[str, str] = {}  # each variable's equations, rewritten
    for var in info.variables.values():
        node = var.node
        if node is not None:
            for tag in ("conveyor", "queue"):
                if any(local(c.tag) == tag for c in node if isinstance(c.tag, str)):
                    problems.append((f"{tag}s", var.name))
        problems += array_problems(var, dims, positions)
        untranslated = untranslated_call(_raw_equation(var))
        if untranslated:
            problems.append((f"{untranslated} (a Vensim function its converter left in a comment, "
                             "with a placeholder value in its place)", var.name))
            continue
        try:
            rewritten = rewrite_equation(var.equation, names, dims, positions, graphs,
                                          None if var.dimensions else var.name, owner_dims=var.dimensions)
            others = [child(el, "eqn") for el in children(node, "element")] + [child(node, "init_eqn")] \
                if node is not None else []
            extra = [rewrite_equation(equation_text(eqn), names, dims, positions, graphs)
                          for eqn in others if eqn is not None]
        except AmbiguousForm as exc:
            problems.append((f"this equation form ({exc})", var.name))
            continue
        defined_by_element = node is not None and any(local(c.tag) == "element" for c in node
                                                      if isinstance(c.tag, str))
        if not rewritten.strip() and var.kind in ("aux", "flow") and var.graphical is None \
                and not defined_by_element:
            problems.append(("a variable with no equation", var.name))
        if "time_step" in rewritten or "initial_time" in rewritten or "final_time" in rewritten:
            if names & PYSD_CONTROLS:
                problems.append((f"DT/STARTTIME/STOPTIME beside a variable named like PySD's "
                                 f"'{sorted(names & PYSD_CONTROLS)[0]}'", var.name))
        equations[var.name] = " , ".join([rewritten, *extra])
        for name, called in references(equations[var.name]):
            if called and name in names and kinds[name] != "gf":
                problems.append((f"a call of '{name}' as a graphical function (it has no <gf> of "
                                 "its own, or is arrayed and the call names no element)", var.name))
            if name in names or name in KEYWORDS or called and name in helper_names:
                continue
            if called and name in RANDOM:
                problems.append((f"the random builtin {name.upper()}() (random streams, seeded or "
                                 "not, differ between engines)", var.name))
            elif called and name not in BUILTINS:
                problems.append((f"the builtin {name.upper()}()", var.name))
    return problems + stale_delay_inputs(equations, kinds) + initial_equation_problems(info, equations)


def _raw_equation(var) -> str:
    """A variable's <eqn> as written, {comments} included (the equation read drops them)."""
    eqn = child(var.node, "eqn") if var.node is not None else None
    return var.equation if eqn is None else (eqn.text or "") + "".join(c.tail or "" for c in eqn)


def input_problems(info: ModelInfo) -> list[str]:
    """Mistakes in the model file itself (exit status 2, not "cannot simulate"): a variable
    without an equation, a name used but never defined, a number too large for a float.
    (A Vensim file's mistakes are PySD's Vensim translator's to find.)"""
    if info.path.suffix.lower() == VENSIM_SUFFIX:
        return []
    names = {canonical(v) for v in info.variables} | REWRITTEN | PYSD_CONTROLS
    names |= {canonical(d.get("name", "")) for holder in children(info.root, "dimensions")
              for d in children(holder, "dim")}
    problems = []
    for var in info.variables.values():
        by_element = var.node is not None and any(isinstance(c.tag, str) and local(c.tag) == "element"
                                                  for c in var.node)
        if var.kind in ("stock", "flow", "aux") and not var.equation and not by_element:
            problems.append(f"{info.path}: {var.name!r} has no equation (<eqn>)")
        for tok in tokens(var.equation):
            if (tok[0].isdigit() or tok[0] == ".") and not math.isfinite(float(tok)):
                problems.append(f"{info.path}: {var.name!r}: the number {tok} is too large")
        for name, called in references(without_subscripts(var.equation)):  # calls: unsupported()
            if not called and "." not in name and name not in names | KEYWORDS:
                problems.append(f"{info.path}: {var.name!r} uses {name!r}, which the model "
                                f"does not define{suggest(name, info.variables)}")
    return problems


def ensure_supported(info: ModelInfo, integrators: tuple[str, ...] = ("euler",)) -> None:
    """Refuse a model with mistakes (SdvagError) or features the engine that will run it cannot
    simulate (UnsupportedFeature): PySD integrates with Euler only."""
    mistakes = input_problems(info)
    if mistakes:
        raise SdvagError("\n".join(mistakes))
    problems = unsupported(info, integrators)
    if problems:
        feature, variable = problems[0]
        raise UnsupportedFeature(feature, variable, info.path)
