"""Subscripted (arrayed) XMILE variables: the forms PySD's XMILE translator gets wrong, refused.

PySD translates apply-to-all and element-by-element arrays, subscripted references and
`SUM(x[Dim!])`-style reductions, and simulates them as Stella and Simlin do (checked against the
canonical outputs of the SDXorg and Simlin test models; tests/test_arrays.py keeps closed-form
checks). Forms it cannot parse fail inside PySD and are reported by pysd_errors. The forms it
parses but simulates wrongly are listed here.
"""
from __future__ import annotations

from sdvag.model.xmile import ModelInfo, Variable, canonical, children, tokens

# Builtins keeping an internal stock per element: PySD sizes that stock by the input argument,
# so a scalar input with subscripted parameters yields one shared stock (external-models
# sdeverywhere delay: DELAY3(input, delay_a[DimA]) differs from Vensim's output).
STATEFUL = frozenset({"delay", "delay1", "delay3", "delayn", "smth1", "smth3", "smthn", "trend"})


def _first_argument(toks: list[str], open_i: int) -> list[str]:
    depth, out = 0, []
    for tok in toks[open_i + 1:]:
        if tok in ("(", "["):
            depth += 1
        elif tok in (")", "]"):
            if depth == 0:
                break
            depth -= 1
        elif tok == "," and depth == 0:
            break
        out.append(tok)
    return out


def array_problems(var: Variable) -> list[tuple[str, str]]:
    """(feature, variable) for each arrayed form in this variable that PySD simulates wrongly."""
    if not var.dimensions:
        return []
    toks = tokens(var.equation)
    problems = []
    for i, tok in enumerate(toks[:-1]):
        if canonical(tok) in STATEFUL and toks[i + 1] == "(":
            if "[" not in _first_argument(toks, i + 1) and "[" in toks[i + 2:]:
                problems.append((f"{tok.upper()} of an unsubscripted input in an arrayed variable",
                                 var.name))
            elif any(len(group) < len(var.dimensions) for group in _subscripts(_call_tokens(toks, i + 1))):
                # e.g. DELAY3(Inflow[Apples, Citrus], delay[Apples]): PySD's result differs from
                # Stella's and Simlin's (SDXorg subscripted_delays), so it is refused
                problems.append((f"{tok.upper()} with an argument over fewer dimensions than its "
                                 "arrayed variable", var.name))
    return problems


def _call_tokens(toks: list[str], open_i: int) -> list[str]:
    """The tokens of a call's arguments, from the token after its '(' to its matching ')'."""
    depth, out = 0, []
    for tok in toks[open_i + 1:]:
        if tok == "(":
            depth += 1
        elif tok == ")":
            if depth == 0:
                break
            depth -= 1
        out.append(tok)
    return out


def _subscripts(toks: list[str]) -> list[list[str]]:
    """The subscript lists in these tokens: [Apples, Citrus] -> ['Apples', 'Citrus']."""
    groups, current = [], None
    for tok in toks:
        if tok == "[":
            current = [[]]
        elif tok == "]" and current is not None:
            groups.append([" ".join(part) for part in current if part])
            current = None
        elif current is not None:
            current.append([]) if tok == "," else current[-1].append(tok)
    return groups


def unnamed_dimensions(info: ModelInfo) -> list[tuple[str, str]]:
    """(feature, variable) for variables over a dimension declared by its size alone: PySD needs
    element names and fails deep inside its run without them."""
    sized = set()
    for holder in children(info.root, "dimensions"):
        for dim in children(holder, "dim"):
            if not children(dim, "elem"):
                sized.add(canonical(dim.get("name", "")))
    return [(f"the dimension '{d}' declared by its size alone (PySD needs named elements)", v.name)
            for v in info.variables.values() for d in v.dimensions if canonical(d) in sized][:1]
