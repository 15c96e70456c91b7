"""Names in equations: what a variable uses and what uses it (Vensim's causes and uses trees),
the commonest mistake in a handwritten XMILE file, a multi-word name written with spaces, and
the elements of an array (`Firms[North]`) that scenarios and analyses may name.

In an equation `Total Market` is two names, `Total` and `Market`; XMILE wants `Total_Market` or
the quoted `"Total Market"`. PySD then fails with a bare parse error, so sdvag says what to write.
"""
from __future__ import annotations

import itertools
import re

from sdvag.errors import SdvagError
from sdvag.model.support import references
from sdvag.model.xmile import (VENSIM_SUFFIX, ModelInfo, Variable, canonical, child, children, equation_text,
                               is_name, tokens)

_ELEMENT = re.compile(r"\s*([^\[\]]+?)\s*\[([^\[\]]*)\]\s*")


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


def element_reference(name: str) -> tuple[str, tuple[str, ...]] | None:
    """(variable, elements) of a name addressing one element of an array, `Firms[North]` or
    `Firms[North, Farm]` (results.csv's spelling of its columns); None for a plain name."""
    match = _ELEMENT.fullmatch(name)
    return (match[1], tuple(part.strip() for part in match[2].split(","))) if match else None


def element_equations(info: ModelInfo, var: Variable) -> dict[tuple[str, ...], str]:
    """Each element of an arrayed variable (its element names, as the model spells them) with
    the equation defining it, "" where that is not an equation's text (a graphical function)."""
    if info.path.suffix.lower() == VENSIM_SUFFIX:
        return dict(var.elements)  # read with the file (model/vensim.py)
    declared = {canonical(dim.get("name", "")): [elem.get("name", "") for elem in children(dim, "elem")]
                for holder in children(info.root, "dimensions") for dim in children(holder, "dim")}
    combos = itertools.product(*(declared.get(canonical(d), []) for d in var.dimensions))
    defined = {tuple(canonical(part) for part in element.get("subscript", "").split(",")):
               "" if child(element, "gf") is not None else equation_text(child(element, "eqn"))
               for element in (children(var.node, "element") if var.node is not None else [])}
    if not defined:  # apply-to-all: one equation for every element
        return {combo: var.equation for combo in combos}
    return {combo: defined.get(tuple(map(canonical, combo)), "") for combo in combos}
