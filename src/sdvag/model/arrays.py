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
    x[*:Sub]                   x[Sub!]                  (the elements of Sub, a subrange)

Forms it cannot parse fail inside PySD and are reported by pysd_errors. The forms it parses but
simulates wrongly are refused here (array_problems).
"""
from __future__ import annotations

from sdvag.model.xmile import ModelInfo, Variable, canonical, children, is_name, token_spans, tokens

# The array builtins taking one array argument (sdvag rewrites them, see the module doc).
REDUCTIONS = frozenset({"sum", "prod", "mean", "max", "min", "size"})

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
    to leave the call as written (several arguments, or nothing reduced). Raises ValueError
    for a SIZE of something that is not an array."""
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
    if not reduced:
        return f"({arg})" if key == "mean" else None
    if key == "mean":
        return f"(SUM({arg}) / {count})"
    return f"{'V' + key.upper() if key in ('max', 'min') else key.upper()}({arg})"
