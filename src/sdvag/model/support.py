"""Refuse what PySD cannot simulate correctly, before it gets the chance to simulate it wrongly.

PySD's XMILE translator drops modules, macros, conveyors and queues, and fails on or
misreads some builtins. Every builtin allowed here was run by PySD and by an independent engine
(Simlin) or against its closed form, with agreeing trajectories (tests/test_support.py keeps
the closed-form checks); anything else is refused with the feature and the variable named.
"""
from __future__ import annotations

import math

from sdvag.errors import SdvagError, UnsupportedFeature, suggest
from sdvag.model.xmile import ModelInfo, canonical, children, is_name, local, tokens

# Builtins PySD 3.14 simulates correctly from XMILE (lower case).
BUILTINS = frozenset({
    "abs", "exp", "ln", "sqrt", "min", "max", "sin", "cos", "tan", "arcsin", "arccos", "arctan",
    "int", "step", "ramp", "pulse", "safediv", "smth1", "smth3", "smthn", "delay", "delay1",
    "delay3", "delayn", "trend", "init",
})
KEYWORDS = frozenset({"if", "then", "else", "and", "or", "not", "time"})
# Names XMILE defines that PySD does not: refused rather than mistranslated.
KNOWN_UNSUPPORTED = {
    "mod": "the MOD operator", "dt": "the DT builtin", "starttime": "the STARTTIME builtin",
    "stoptime": "the STOPTIME builtin", "pi": "the PI constant", "inf": "the INF constant",
}


def references(equation: str) -> list[tuple[str, bool]]:
    """The names an equation uses, each with whether it is called as a function."""
    toks = tokens(equation)
    found = []
    for i, tok in enumerate(toks):
        if is_name(tok):
            called = i + 1 < len(toks) and toks[i + 1] == "("
            found.append((canonical(tok), called))
    return found


def unsupported(info: ModelInfo, integrators: tuple[str, ...] = ("euler",)) -> list[tuple[str, str | None]]:
    """Every (feature, variable) in the model that PySD cannot be trusted to simulate.
    `integrators`: the integration methods of the engine that will run it (PySD: Euler only;
    sdvag's vectorised engine: Euler and RK4)."""
    problems: list[tuple[str, str | None]] = []
    root = info.root
    for model in children(root, "model"):
        for holder in children(model, "variables"):
            for module in children(holder, "module"):
                problems.append(("modules", module.get("name")))
    for macro in root.iter("{*}macro"):
        problems.append(("macros", macro.get("name")))
    method = info.sim.method.strip().lower() or "euler"
    if method not in integrators:
        problems.append((f"integration method {info.sim.method} (PySD integrates with Euler only)"
                         if integrators == ("euler",) else f"integration method {info.sim.method}", None))
    names = {canonical(v) for v in info.variables}
    for var in info.variables.values():
        node = var.node
        if node is not None:
            for tag in ("conveyor", "queue"):
                if any(local(c.tag) == tag for c in node if isinstance(c.tag, str)):
                    problems.append((f"{tag}s", var.name))
        if var.dimensions or "[" in var.equation:
            problems.append(("arrays (subscripted variables)", var.name))
        for name, called in references(var.equation):
            if name in names or name in KEYWORDS:
                continue
            if name in KNOWN_UNSUPPORTED:
                problems.append((KNOWN_UNSUPPORTED[name], var.name))
            elif called and name not in BUILTINS:
                problems.append((f"the builtin {name.upper()}()", var.name))
    return problems


def input_problems(info: ModelInfo) -> list[str]:
    """Mistakes in the model file itself (exit status 2, not "cannot simulate"): a variable
    without an equation, a name used but never defined, a number too large for a float."""
    names = {canonical(v) for v in info.variables}
    problems = []
    for var in info.variables.values():
        if var.kind in ("stock", "flow", "aux") and not var.equation:
            problems.append(f"{info.path}: {var.name!r} has no equation (<eqn>)")
        for tok in tokens(var.equation):
            if (tok[0].isdigit() or tok[0] == ".") and not math.isfinite(float(tok)):
                problems.append(f"{info.path}: {var.name!r}: the number {tok} is too large")
        for name, called in references(var.equation):  # a call to an unknown function: unsupported()
            if not called and name not in names | KEYWORDS | KNOWN_UNSUPPORTED.keys():
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
