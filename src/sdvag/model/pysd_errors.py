"""PySD's exceptions as one line a modeller can act on: the feature and, where knowable, the variable.

PySD raises parser errors, KeyErrors, IndexErrors and ValueErrors whose text names PySD's own
internals; a user needs to know which equation and what in it. The equation text a parser error
carries identifies the variable.
"""
from __future__ import annotations

import re
from typing import Callable

from sdvag.model.info import ModelInfo
from sdvag.model.tree import canonical


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:120] if lines else ""


def _variable_with(info: ModelInfo | None, equation: str) -> str | None:
    """The variable whose equation is this text (what PySD's parser was reading)."""
    if info is None or not equation:
        return None
    wanted = " ".join(equation.split())
    for var in info.variables.values():
        if " ".join(var.equation.split()) == wanted:
            return var.name
    return None


def explain(exc: BaseException, info: ModelInfo | None = None) -> tuple[str, str | None]:
    """(feature, variable) for an exception PySD raised translating or loading a model."""
    name = type(exc).__name__
    if name in ("ParseError", "IncompleteParseError", "VisitationError"):
        text = getattr(exc, "text", "") or ""
        pos = getattr(exc, "pos", 0) or 0
        snippet = " ".join(text[pos:pos + 40].split())
        return (f"equation text PySD's parser does not read (at '{snippet}')",
                _variable_with(info, text))
    detail = _first_line(exc)
    if "Circular initialization" in detail:
        return ("circular initialisation (initial values that depend on each other)", None)
    if name == "RecursionError":
        return ("a circular definition PySD cannot order (equations that depend on each other "
                "within one time step)", None)
    if detail.startswith(("All the values of selection_array are 0", "More than one non-zero values in selection")):
        # raised while running by PySD's vector_select (model/vectors.py) for its error actions
        return ("VECTOR SELECT whose error action forbids what its selection holds: "
                + ("no element selected" if detail.startswith("All") else "more than one element selected")
                + " (Vensim stops with an error too)", None)
    unknown = re.match(r"Not implemented function '([^']+)'", detail)
    if unknown:
        return (f"the builtin {unknown.group(1).upper()}()", None)
    if name == "KeyError" and info is not None:
        missing = detail.strip("'\"")
        known = {canonical(v) for v in info.variables}
        if canonical(missing) not in known:
            return (f"a reference to '{missing}', which PySD cannot resolve "
                    "(an undefined name or an unsupported builtin)", None)
    return (f"this model (PySD could not translate it: {name}{': ' + detail if detail else ''})", None)


# PySD's warning that it lowered a delay's order (model/delay_orders.py says which are right)
_LOWERED_ORDER = "Delay time very small, casting delay order"


def warned_wrong(messages: list[str], namespace: dict[str, str],
                 judge: Callable[..., str | None]) -> tuple[str, str | None] | None:
    """(feature, variable) when PySD warned that it changed the model in a way the model's
    own software does not; None otherwise. PySD's warning starts with its internal name of the
    delay, `_delay_<variable>` (DELAY1, DELAY3) or `_delayn_<variable>` (DELAY N); `judge`
    (variable, lowered order, fixed) says what is wrong with it (delay_orders.lowered_order_problem
    of the model)."""
    by_python_name = {py: real for real, py in namespace.items()}
    for message in messages:
        if _LOWERED_ORDER in message:
            internal = message.split("\n", 1)[0].strip()
            variable = next((real for py, real in sorted(by_python_name.items(), key=lambda kv: -len(kv[0]))
                             if internal.endswith(py) or f"_{py}" in internal), None)
            lowered = re.search(r"to (-?\d+)\s*$", message)
            feature = judge(variable, int(lowered.group(1)) if lowered else 0,
                            fixed=not internal.startswith("_delayn_"))
            if feature:
                return feature, variable
    return None
