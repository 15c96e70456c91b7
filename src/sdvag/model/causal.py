"""The causal links of a model, read from its equations: which variables each one uses.

A link runs from a name an equation uses to the variable the equation defines, and from each
flow to the stock it fills or drains (a stock's own equation is only its initial value, so it
is not a link). Named loops are checked against these links, and knock-outs cut them.
"""
from __future__ import annotations

from sdvag.model.support import references
from sdvag.model.xmile import ModelInfo, Variable, canonical


def sources(info: ModelInfo, var: Variable) -> list[str]:
    """The model variables `var` depends on during the run, by name as the model defines them."""
    if var.kind == "stock":
        names = [*var.inflows, *var.outflows]
    else:
        names = [name for name, called in references(var.equation) if not called]
    found: list[str] = []
    for name in names:
        other = info.find(name)
        if other is not None and other.name not in found:
            found.append(other.name)
    return found


def causal_links(info: ModelInfo) -> dict[str, list[str]]:
    """{target: [sources]} for every variable of the model."""
    return {name: sources(info, var) for name, var in info.variables.items()}


def has_link(info: ModelInfo, source: str, target: str) -> bool:
    var = info.find(target)
    return var is not None and canonical(source) in {canonical(s) for s in sources(info, var)}
