"""Initial equations (<init_eqn>, Vensim's ACTIVE INITIAL): the value a variable has while the
model is initialised, its <eqn> ever after.

PySD's XMILE translator ignores <init_eqn>, so a stock initialised from such a variable would
start from its <eqn> (often circular: Capacity starts at Target Capacity, which needs Capacity).
Where the variable is used during initialisation only directly by stocks' initial values, each
such use becomes the initial equation, in brackets, which is exactly what it means; any other
use during initialisation (through another variable, in a smoothing's or delay's start value,
in INIT, in another initial equation) is refused.
"""
from __future__ import annotations

from sdvag.model.builtins import calls
from sdvag.model.tree import canonical, child, children, equation_text, is_name, main_model, token_spans, tokens

STARTED = frozenset({"init", "smth1", "smth3", "smthn", "delay", "delay1", "delay3", "delayn",
                     "trend", "forcst", "previous"})  # builtins whose start value comes from their input


def initial_equations(root) -> dict[str, str]:
    """Each variable's initial equation, by canonical name."""
    holder = child(main_model(root), "variables")
    return {canonical(node.get("name", "")): equation_text(child(node, "init_eqn"))
            for node in (holder if holder is not None else ()) if isinstance(node.tag, str)
            and child(node, "init_eqn") is not None}


def _names(equation: str) -> set[str]:
    toks = tokens(equation)
    return {canonical(t) for i, t in enumerate(toks) if is_name(t) and toks[i + 1:i + 2] != ["("]}


def initial_equation_problems(info, equations: dict[str, str]) -> list[tuple[str, str]]:
    """(feature, variable) for each use of an initial equation that is not directly a stock's
    initial value, and each initial equation on an arrayed variable or an element.
    `equations`: each variable's equations (as PySD gets them), by name."""
    initials = initial_equations(info.root)
    problems = [("an initial equation (<init_eqn>) of an arrayed variable", var.name)
                for var in info.variables.values() if var.node is not None
                and (var.dimensions and canonical(var.name) in initials
                     or any(child(el, "init_eqn") is not None for el in children(var.node, "element")))]
    if not initials:
        return problems
    by_key = {canonical(name): text for name, text in equations.items()}
    stocks = {canonical(v.name) for v in info.variables.values() if v.kind == "stock"}
    shown = {canonical(name): name for name in equations}
    # what is computed while the model is initialised: stocks' initial values, builtins' start values
    roots = [(by_key[s], True) for s in stocks if s in by_key] + [
        (arg, False) for text in by_key.values() for function, args in calls(text)
        if function in STARTED for arg in args]
    roots += [(text, False) for text in initials.values()]
    for text, substituted in roots:
        direct = _names(text)
        if not substituted and direct & initials.keys():
            problems.append(("an initial equation (<init_eqn>) used in a start value other than a "
                             "stock's", shown.get(sorted(direct & initials.keys())[0])))
        seen, todo = set(), list(direct - initials.keys() - stocks)
        while todo:
            key = todo.pop()
            if key in seen or key not in by_key:
                continue
            seen.add(key)
            if _names(by_key[key]) & initials.keys():
                problems.append(("an initial equation (<init_eqn>) used by a variable computed "
                                 "while the model is initialised", shown[key]))
            todo += list(_names(by_key[key]) - initials.keys() - stocks)
    return list(dict.fromkeys(problems))


def apply_initial_equations(tree):
    """The tree PySD gets (changed in place and returned): each stock's initial value uses the
    initial equations, which are then removed (PySD would ignore them)."""
    initials = initial_equations(tree)
    holder = child(main_model(tree), "variables")
    for node in (holder if initials and holder is not None else ()):
        if isinstance(node.tag, str) and node.tag.endswith("stock"):
            for eqn in [child(node, "eqn")] + [child(el, "eqn") for el in children(node, "element")]:
                if eqn is not None and eqn.text:
                    eqn.text = _substituted(eqn.text, initials)
    for init in list(tree.iter("{*}init_eqn")):
        init.getparent().remove(init)
    return tree


def _substituted(equation: str, initials: dict[str, str]) -> str:
    parts, last = [], 0
    spans = token_spans(equation)
    for i, (start, end, tok) in enumerate(spans):
        called = i + 1 < len(spans) and spans[i + 1][2] == "("
        if is_name(tok) and not called and canonical(tok) in initials:
            parts += [equation[last:start], f"({initials[canonical(tok)]})"]
            last = end
    return "".join(parts) + equation[last:]
