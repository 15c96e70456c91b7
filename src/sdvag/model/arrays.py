"""Subscripted (arrayed) XMILE variables: the array builtins in PySD's terms, and the forms PySD's
XMILE translator gets wrong, refused.

PySD translates apply-to-all and element-by-element arrays, subscripted references and
`SUM(x[Dim!])`-style reductions, and simulates them as Stella and Simlin do (checked against the
canonical outputs of the SDXorg and Simlin test models; tests/test_arrays.py keeps closed-form
checks). Its one-argument MAX and MIN reduce over every dimension (a partial `MAX(x[*, B])`
fails), and it has no MEAN or SIZE of an array, so the one-argument array builtins are rewritten
(`reduction`, called by builtins.rewrite_equation once `*` is PySD's `Dim!`):

    SUM(x[*]), PROD(x[*])      as written
    SUM(x)  (x arrayed)        SUM(x[Dim!, ...])        (PySD would return x itself)
    MAX(x[*, B]), MIN(...)     VMAX(x[Dim!, B])          (PySD's reduction over the ! dimensions)
    MEAN(x[*, B])              (SUM(x[Dim!, B]) / n)    n: the number of elements reduced
    SIZE(Dim), SIZE(x[*])      the number of elements
    SUM(x[a1]), MAX(3)...      (x[a1]), (3)             (one value: PySD's reductions fail)
    x[*:Sub]                   x[Sub!]                  (the elements of Sub, a subrange)

Forms it cannot parse fail inside PySD and are reported by pysd_errors. The forms it parses but
simulates wrongly are refused here (array_problems).
"""
from __future__ import annotations

import copy
import re

from sdvag.model.xmile import (ModelInfo, Variable, canonical, child, children, equation_text, is_name,
                               token_spans, tokens)

# The array builtins taking one array argument (sdvag rewrites them, see the module doc).
REDUCTIONS = frozenset({"sum", "prod", "mean", "max", "min", "size"})

# Builtins keeping an internal stock per element. PySD broadcasts their arguments: a scalar input
# or one over some of the variable's dimensions, with parameters over others, gives each element
# its own stock, as Stella does (checked against the Euler closed form, tests/test_arrays.py; the
# reference of SDXorg subscripted_delays was made at another time step, from the .mdl). An
# argument over a dimension the variable does not have is a Vensim mapping: refused.
STATEFUL = frozenset({"delay", "delay1", "delay3", "delayn", "smth1", "smth3", "smthn", "trend"})


def array_problems(var: Variable, dims: dict[str, tuple[str, ...]],
                   positions: dict[str, int]) -> list[tuple[str, str]]:
    """(feature, variable) for each arrayed form in this variable that PySD simulates wrongly.
    `dims`: the dimensions of each arrayed variable, by canonical name; `positions`: each
    `Dim.Elem`'s position (names_and_dimensions)."""
    problems = [(f"a subscript that is an expression or a position ({text}; PySD reads element "
                 "and dimension names only)", var.name) for text in _computed_subscripts(var)][:1]
    if not var.dimensions:
        return problems
    toks = tokens(var.equation)
    problems += [(f"two definitions of the element [{twice}] (PySD keeps the last)", var.name)
                 for twice in _defined_twice(var)]
    for i, tok in enumerate(toks[:-1]):
        if canonical(tok) in REDUCTIONS and toks[i + 1] == "(":
            argument = _call_tokens(toks, i + 1)
            bare = [t for k, t in enumerate(argument) if is_name(t) and canonical(t) in dims
                    and argument[k + 1:k + 2] not in (["["], ["("])]
            if bare and not _top_level_comma(argument):
                # one argument (MAX(a, b) is element by element): in an arrayed equation, `x`
                # may mean x's element or all of x
                problems.append((f"{tok.upper()} of the array '{bare[0]}' named without "
                                 "subscripts in an arrayed variable (write its subscripts, e.g. "
                                 f"{bare[0]}[*])", var.name))
    problem = _mapped_dimension(var.equation, var.dimensions, positions)
    if problem:
        problems.append((problem, var.name))
    return problems


def _elements(var: Variable) -> list:
    """The variable's <element> nodes (an array defined element by element)."""
    return children(var.node, "element") if var.node is not None else []


# An element or dimension name (PySD's names may start with a digit), `Dim!`, `*` or `*:Sub`.
_NAME = r'(?:"[^"]*"|\w[\w.$\' ]*)'
_SUBSCRIPT_ITEM = re.compile(rf'{_NAME}(?:\s*!)?|\*(?:\s*:\s*{_NAME})?')


def _computed_subscripts(var: Variable) -> list[str]:
    """The subscripts in the variable's equations (its elements' too) that are not element or
    dimension names (`*`, `Dim!` and `*:Sub` included): `x[INT(TIME MOD 5) + 1]`, `x[2]`."""
    texts = [var.equation] + [equation_text(child(e, "eqn")) for e in _elements(var)]
    found = []
    for text in texts:
        for group in _subscripts(tokens(text)):
            if any(not _SUBSCRIPT_ITEM.fullmatch(item) for item in group):
                found.append("[" + ", ".join(group) + "]")
    return found


def _defined_twice(var: Variable) -> list[str]:
    """The subscripts of the elements this variable's <element>s define more than once."""
    seen, twice = set(), []
    for element in _elements(var):
        key = tuple(canonical(part) for part in element.get("subscript", "").split(","))
        if key in seen:
            twice.append(element.get("subscript", ""))
        seen.add(key)
    return twice


def _top_level_comma(toks: list[str]) -> bool:
    depth = 0
    for tok in toks:
        depth += (tok in ("(", "[")) - (tok in (")", "]"))
        if tok == "," and depth == 0:
            return True
    return False


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


def without_subscripts(equation: str) -> str:
    """The equation with every subscript list, nested ones too, blanked out: what is left names
    variables and builtins only (`x[RANK(x[*, Germany], 1), Germany]` -> `x `)."""
    out, depth = [], 0
    for char in equation:
        depth += char == "["
        out.append(" " if depth else char)
        depth -= char == "]" and depth > 0
    return "".join(out)


def _subscripts(toks: list[str]) -> list[list[str]]:
    """The subscript lists in these tokens, nested ones too (each also part of the item that
    holds it): [Apples, Citrus] -> ['Apples', 'Citrus']; x[INT(y[a1]), b1] -> ['a1'],
    ['INT ( y [ a1 ] )', 'b1']."""
    groups, open_groups = [], []
    for tok in toks:
        if tok == "[":
            open_groups.append([[]])
        elif tok == "]" and open_groups:
            items = [" ".join(part) for part in open_groups.pop() if part]
            groups.append(items)
            if open_groups:
                open_groups[-1][-1] += ["[", ", ".join(items), "]"]
        elif open_groups:
            open_groups[-1].append([]) if tok == "," else open_groups[-1][-1].append(tok)
    return groups


def dimension_problems(info: ModelInfo) -> list[tuple[str, str | None]]:
    """(feature, variable) for dimensions PySD cannot use: one declared by its size alone (PySD
    needs element names and fails deep inside its run without them), or one whose elements a
    converter left as an untranslated Vensim call (`0{GET DIRECT SUBSCRIPT(...)}`, elements read
    from a file)."""
    sized, problems = set(), []
    for holder in children(info.root, "dimensions"):
        for dim in children(holder, "dim"):
            elems = children(dim, "elem")
            if not elems:
                sized.add(canonical(dim.get("name", "")))
            call = next((re.match(r"[^{]*\{\s*([A-Za-z][\w ]*?)\s*\(", e.get("name", "")) for e in elems
                         if "{" in e.get("name", "")), None)
            if call:
                problems.append((f"the dimension '{dim.get('name', '')}' whose elements come from "
                                 f"{call.group(1).replace('_', ' ').upper()} (a Vensim function "
                                 "its converter left in a comment)", None))
    problems += [(f"the dimension '{d}' declared by its size alone (PySD needs named elements)", v.name)
                 for v in info.variables.values() for d in v.dimensions if canonical(d) in sized][:1]
    return problems


def _size(dimension: str, positions: dict[str, int]) -> int:
    """The number of elements of a dimension, from the positions of its elements (`Dim.Elem`:
    names hold no '.', XMILE's module separator)."""
    prefix = canonical(dimension) + "."
    return sum(1 for key in positions if key.startswith(prefix))


def whole_arrays(argument: str, dims: dict[str, tuple[str, ...]]) -> str:
    """The argument of an array builtin with each arrayed variable named without subscripts
    (`SUM(x)`: all of x) given all its dimensions with PySD's `!` (`x[DimA!,DimB!]`)."""
    spans, parts, last = token_spans(argument), [], 0
    for k, (start, end, tok) in enumerate(spans):
        following = spans[k + 1][2] if k + 1 < len(spans) else ""
        own = dims.get(canonical(tok), ()) if is_name(tok) else ()
        if own and following not in ("[", "("):
            parts += [argument[last:end], "[" + ",".join("_".join(d.split()) + "!" for d in own) + "]"]
            last = end
    return "".join(parts) + argument[last:]


def reduction(key: str, args: list[str], dims: dict[str, tuple[str, ...]],
              positions: dict[str, int]) -> str | None:
    """The one-argument array builtin `key(args[0])` in PySD's terms (see the module doc); None
    to leave a call with several arguments as written. Raises ValueError for a SIZE of something
    that is not an array."""
    if len(args) != 1:
        return None
    arg = whole_arrays(args[0], dims)
    reduced = {canonical(item[:-1]) for group in _subscripts(tokens(arg)) for item in group
               if item.endswith("!")}
    count = 1
    for dimension in reduced:
        count *= _size(dimension, positions)
    if key == "size":
        if not reduced and _size(arg, positions):
            return str(_size(arg, positions))
        if not reduced:
            raise ValueError(f"SIZE of {arg}, which is not a dimension or an array")
        return str(count)
    if not reduced:  # one value (PySD's reductions fail on a number)
        return f"({arg})"
    if key == "mean":
        return f"(SUM({arg}) / {count})"
    return f"{'V' + key.upper() if key in ('max', 'min') else key.upper()}({arg})"


def stock_initials_as_auxiliaries(tree) -> None:
    """In the tree PySD is given, a stock whose initial values are defined element by element
    (PySD's XMILE translator reads only a stock's own <eqn>) starts from an auxiliary holding
    those elements, `<stock> initial`, over the stock's dimensions: the same numbers at the
    start, and the auxiliary is not one of the model's variables, so no result shows it."""
    for holder in tree.iter("{*}variables"):
        taken = {canonical(n.get("name", "")) for n in holder if isinstance(n.tag, str)}
        for stock in [n for n in holder if isinstance(n.tag, str) and n.tag.endswith("stock")]:
            elements, dims = children(stock, "element"), child(stock, "dimensions")
            if not elements or dims is None:
                continue
            name, k = f"{stock.get('name', '')} initial", 2
            while canonical(name) in taken:
                name, k = f"{stock.get('name', '')} initial {k}", k + 1
            taken.add(canonical(name))
            aux = stock.makeelement(stock.tag[:-len("stock")] + "aux", name=name)
            aux.append(copy.deepcopy(dims))
            for element in elements:
                aux.append(element)  # moved from the stock
            stock.addnext(aux)
            eqn = child(stock, "eqn")
            if eqn is None:
                eqn = stock.makeelement(stock.tag[:-len("stock")] + "eqn")
                stock.append(eqn)
            names = ",".join("_".join(d.get("name", "").split()) for d in children(dims, "dim"))
            eqn.text = '"' + name + '"' + f"[{names}]"


def _mapped_dimension(equation: str, own: tuple[str, ...], positions: dict[str, int]) -> str | None:
    """Why a delay or smooth in an equation of a variable over the dimensions `own` cannot be
    given to PySD: an argument over a dimension the variable does not have (a Vensim-style
    mapping, `s[DimB] = SMTH1(input[DimA], t)`), or None."""
    mine = {canonical(d) for d in own}
    known = {key.split(".", 1)[0] for key in positions}
    toks = tokens(equation)
    for i, tok in enumerate(toks[:-1]):
        if canonical(tok) in STATEFUL and toks[i + 1] == "(":
            for group in _subscripts(_call_tokens(toks, i + 1)):
                for item in group:
                    if canonical(item) in known - mine and not item.endswith("!"):
                        return (f"{tok.upper()} with an argument over the dimension '{item}', "
                                "which its arrayed variable does not have")
    return None
