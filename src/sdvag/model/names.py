"""Names in equations: what a variable uses and what uses it (Vensim's causes and uses trees),
and the commonest mistake in a handwritten XMILE file, a multi-word name written with spaces.

In an equation `Total Market` is two names, `Total` and `Market`; XMILE wants `Total_Market` or
the quoted `"Total Market"`. PySD then fails with a bare parse error, so sdvag says what to write.
"""
from __future__ import annotations

from sdvag.errors import SdvagError
from sdvag.model.support import references
from sdvag.model.xmile import ModelInfo, Variable, canonical, is_name, tokens


def uses(info: ModelInfo, var: Variable) -> list[str]:
    """The variables `var`'s equation uses (a stock: its flows and initial value), in order."""
    names = [name for name, _ in references(var.equation)] + [canonical(f) for f in (*var.inflows, *var.outflows)]
    found = []
    for name in names:
        other = info.find(name)
        if other is not None and other.name not in found and other is not var:
            found.append(other.name)
    return found


def used_by(info: ModelInfo, var: Variable) -> list[str]:
    """The variables whose equations use `var` (or, for a flow, the stocks it fills or drains)."""
    return [other.name for other in info.variables.values() if other is not var and var.name in uses(info, other)]


def spaced_names(info: ModelInfo) -> list[tuple[str, str]]:
    """(variable, name) for each equation that writes a multi-word variable name with spaces."""
    multi = [(v.name, canonical(v.name).split()) for v in info.variables.values()]
    multi = [(name, parts) for name, parts in multi if len(parts) > 1]
    found = []
    for var in info.variables.values():
        words = [canonical(t) if is_name(t) and not t.startswith('"') else None for t in tokens(var.equation)]
        for name, parts in multi:
            if parts[0] in words and any(words[i:i + len(parts)] == parts for i in range(len(words) - len(parts) + 1)):
                found.append((var.name, name))
    return found


def spacing_hint(variable: str, name: str) -> str:
    written = "_".join(name.split())
    return (f"'{variable}' writes {name} with spaces, which an equation reads as separate names: "
            f"write `{written}` or quote the name (\"{name}\")")


def refuse_spaced_names(info: ModelInfo) -> None:
    """An input error, one line per equation, before PySD's parse error could be the message."""
    found = spaced_names(info)
    if found:
        raise SdvagError("\n".join(f"{info.path}: {spacing_hint(v, n)}" for v, n in found))
