"""Vensim's vector builtins, which xmutil and SDEverywhere keep in the XMILE they write, in terms
PySD's XMILE translator simulates as Vensim does.

PySD's Python builders have VECTOR SELECT, VECTOR SORT ORDER and VECTOR RANK (pysd.py_backend.
functions, reached by its Vensim translator), but its XMILE grammar reads no name of several
words; it has no VECTOR ELM MAP, and its VECTOR REORDER indexes with the values of its second
argument, which fails on the floats an XMILE constant holds. With `*` already PySD's `Dim!`
(builtins._subscripts), each call becomes:

    VECTOR SELECT(sel, x, missing, action, error)  vector_select(sel, x, missing, action, error)
    VECTOR SORT ORDER(v, direction)                vector_sort_order(v, direction)
    VECTOR RANK(v, direction)                      vector_rank(v, direction)
    VECTOR ELM MAP(x[s], offset)                   vector_select(I[X!] = (I[s] + (offset)), x[X!], NaN, 0, 0)
    VECTOR REORDER(v[.., D], s[.., D])             vector_select(P[D!] = (s[.., D]), v[.., D!], NaN, 0, 0)
    D (a dimension of the variable, as a value)    (P[D] + 1), its position (SIZE(D) stays D's size)

I is x's index helper: 0, 1, 2 ... over x's elements in Vensim's storage order (the last
dimension fastest), so ELM MAP takes the element `offset` places after x[s], as Vensim's
documentation defines it; P is the index helper over D alone. The helpers are auxiliaries added
to the copy PySD reads (add_index_helpers), never results. An ELM MAP or REORDER that lands
outside the array, or on no whole position, selects nothing and gives NaN, PySD's :NA: (Vensim
reports an error and returns :NA:).

Each call is checked first: a form whose meaning PySD would change (a SORT ORDER of an array
over other dimensions than its variable's, whose "last dimension" would then be another; an ELM
MAP of an expression, which has no element to count from) is refused, naming the form.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from sdvag.model.rewrite import equation_name
from sdvag.model.tree import canonical, children, is_name, tokens

CALLS = frozenset({"vector select", "vector elm map", "vector sort order", "vector rank", "vector reorder"})
_SPACED = re.compile(r"\bVECTOR\s+(SELECT|ELM\s+MAP|SORT\s+ORDER|RANK|REORDER)(?=\s*\()", re.I)
_REFERENCE = re.compile(r'\s*("[^"]*"|[^\W\d][\w.$\']*)\s*\[([^\[\]]*)\]\s*')
_NAN = "((1e308 * 10) - (1e308 * 10))"  # inf - inf: PySD's grammar has no NaN


@dataclass(frozen=True)
class IndexHelper:
    """An auxiliary over `dims` holding each element's 0-based position in storage order."""
    name: str
    dims: tuple[str, ...]


@dataclass
class Context:
    """What a vector call's rewrite needs of its model and its variable."""
    names: set[str]                       # the model's variables (canonical)
    dims: dict[str, tuple[str, ...]]      # each arrayed variable's dimensions (by canonical name)
    positions: dict[str, int]             # `dim.elem` (canonical) -> 1-based position
    owner_dims: tuple[str, ...]           # the dimensions of the equation's variable (() for an element's)
    made: list                            # helpers made so far (IndexHelper among them)


def joined(equation: str) -> str:
    """`VECTOR SORT ORDER (` as one name, `VECTOR_SORT_ORDER(`, so that it tokenises as a call."""
    return _SPACED.sub(lambda m: "VECTOR_" + "_".join(m.group(1).split()), equation)


def index_helper(dims: tuple[str, ...], ctx: Context) -> str:
    """The equation name of the index helper over `dims`, made once per model."""
    key = tuple(canonical(d) for d in dims)
    for item in ctx.made:
        if isinstance(item, IndexHelper) and tuple(canonical(d) for d in item.dims) == key:
            return equation_name(item.name)
    taken = ctx.names | {canonical(m.name if isinstance(m, IndexHelper) else m[1]) for m in ctx.made}
    base = " ".join(dims) + " index"
    name, k = base, 2
    while canonical(name) in taken:
        name, k = f"{base} {k}", k + 1
    ctx.made.append(IndexHelper(name, tuple(dims)))
    return equation_name(name)


def _subscript(dim: str, bang: bool = False) -> str:
    return "_".join(dim.split()) + ("!" if bang else "")


def position(name: str, ctx: Context) -> str:
    """A dimension of the equation's variable used as a value: the current element's position."""
    dim = next(d for d in ctx.owner_dims if canonical(d) == canonical(name))
    return f"({index_helper((dim,), ctx)}[{_subscript(dim)}] + 1)"


def is_own_dimension(key: str, ctx: Context) -> bool:
    """Whether a bare name is one of the dimensions of the equation's variable."""
    return key not in ctx.names | {"time"} and key in {canonical(d) for d in ctx.owner_dims}


def rewrite(key: str, args: list[str], ctx: Context) -> str:
    """The call `key(args)` (key in CALLS) in PySD's terms; ValueError names a form refused
    (its arguments quoted with `*` for PySD's `Dim!`, as the modeller wrote them)."""
    try:
        return _rewrite(key, args, ctx)
    except ValueError as exc:
        raise ValueError(re.sub(r"[^\W\d][\w.$']*!", "*", str(exc))) from None


def _rewrite(key: str, args: list[str], ctx: Context) -> str:
    label = key.upper()
    wanted = {"vector select": 5, "vector elm map": 2, "vector reorder": 2}.get(key, 2)
    if len(args) != wanted:
        raise ValueError(f"{label} with {len(args)} argument(s), not {wanted}")
    if key == "vector select":
        return _select(args, ctx)
    if key == "vector elm map":
        return _elm_map(args, ctx)
    own = _own_dims(label, ctx)
    if key == "vector reorder":
        return _reorder(args, own, ctx)
    _same_dims(label, args[0], own, ctx, "its array")
    _scalar(label, args[1], ctx, "its direction")
    return f"{key.replace(' ', '_')}({args[0]}, {args[1]})"


def _own_dims(label: str, ctx: Context) -> tuple[str, ...]:
    if not ctx.owner_dims:
        raise ValueError(f"{label} outside an apply-to-all arrayed variable (it returns an array)")
    return ctx.owner_dims


def _references(text: str) -> list[tuple[str, list[str]]]:
    """(canonical name, subscript items) of each subscripted reference in the text."""
    return [(canonical(m.group(1)), [i.strip() for i in m.group(2).split(",")])
            for m in re.finditer(r'("[^"]*"|[^\W\d][\w.$\']*)\s*\[([^\[\]]*)\]', text)]


def _bare_arrays(text: str, ctx: Context) -> list[str]:
    """Arrayed variables named without subscripts in the text."""
    toks = tokens(text)
    return [t for k, t in enumerate(toks) if is_name(t) and canonical(t) in ctx.dims
            and toks[k + 1:k + 2] != ["["]]


def _same_dims(label: str, text: str, own: tuple[str, ...], ctx: Context, what: str) -> None:
    """Refuse unless every array in `text` is subscripted by exactly the variable's dimensions,
    in its order (PySD sorts along the array's last dimension, Vensim along the variable's)."""
    refs = _references(text)
    mine = [canonical(d) for d in own]
    if not refs or _bare_arrays(text, ctx) or any([canonical(i) for i in items] != mine for _, items in refs):
        raise ValueError(f"{label} of {what} '{text}' not subscripted by its variable's dimensions "
                         f"[{', '.join(own)}] in that order")


def _scalar(label: str, text: str, ctx: Context, what: str) -> None:
    if _references(text) or _bare_arrays(text, ctx) or "!" in text:
        raise ValueError(f"{label} with an arrayed value as {what} ('{text}'; PySD takes one number)")


def _outside_dimensions(label: str, text: str, ctx: Context) -> None:
    """Refuse a dimension (not `Dim!`) in `text` that the equation's variable does not have:
    PySD would return an array over it."""
    mine = {canonical(d) for d in ctx.owner_dims}
    known = {key.split(".", 1)[0] for key in ctx.positions}
    for _, items in _references(text):
        for item in items:
            if canonical(item) in known - mine:
                raise ValueError(f"{label} over the dimension '{item}', which its variable does not have")


def _select(args: list[str], ctx: Context) -> str:
    label = "VECTOR SELECT"
    for arg, what in zip(args[:2], ("selection", "expression")):
        if "!" not in arg:
            raise ValueError(f"{label} whose {what} '{arg}' selects over no dimension (write [*] for its elements)")
        _outside_dimensions(label, arg, ctx)
    for arg, what in zip(args[2:], ("missing value", "action", "error action")):
        _scalar(label, arg, ctx, f"its {what}")
    return "vector_select(" + ", ".join(args) + ")"


def _element(label: str, reference: str, ctx: Context) -> tuple[str, list[str], tuple[str, ...]]:
    """The variable, subscripts and dimensions of `x[s]`, ELM MAP's first argument, checked: each
    subscript an element of x's dimension there, or that dimension (one of the variable's)."""
    m = _REFERENCE.fullmatch(reference)
    if m is None or canonical(m.group(1)) not in ctx.dims:
        raise ValueError(f"{label} of '{reference}', not an element of an arrayed variable "
                         "(Vensim counts the offset from an element)")
    items = [i.strip() for i in m.group(2).split(",")]
    own = ctx.dims[canonical(m.group(1))]
    mine = {canonical(d) for d in ctx.owner_dims}
    if len(items) != len(own):
        raise ValueError(f"{label} of '{reference}' with {len(items)} subscript(s) for {len(own)} dimension(s)")
    for item, dim in zip(items, own):
        element = canonical(f"{dim}.{item}") in ctx.positions
        if not element and not (canonical(item) == canonical(dim) and canonical(dim) in mine):
            raise ValueError(f"{label} of '{reference}': the subscript '{item}' is neither an element "
                             f"of {dim} nor {dim} itself as a dimension of its variable")
    return m.group(1), items, own


def _elm_map(args: list[str], ctx: Context) -> str:
    label = "VECTOR ELM MAP"
    name, items, own = _element(label, args[0], ctx)
    _outside_dimensions(label, args[1], ctx)
    index = index_helper(own, ctx)
    every = ",".join(_subscript(d, True) for d in own)
    return (f"vector_select({index}[{every}] = ({index}[{','.join(items)}] + ({args[1]})), "
            f"{name}[{every}], {_NAN}, 0, 0)")


def _reorder(args: list[str], own: tuple[str, ...], ctx: Context) -> str:
    label = "VECTOR REORDER"
    m = _REFERENCE.fullmatch(args[0])
    if m is None:
        raise ValueError(f"{label} of the expression '{args[0]}', not an arrayed variable")
    _same_dims(label, args[0], own, ctx, "its array")
    _same_dims(label, args[1], own, ctx, "its order")
    last = index_helper(own[-1:], ctx)
    items = [_subscript(d) for d in own[:-1]] + [_subscript(own[-1], True)]
    return (f"vector_select({last}[{_subscript(own[-1], True)}] = ({args[1]}), "
            f"{m.group(1)}[{','.join(items)}], {_NAN}, 0, 0)")


def add_index_helpers(holder, made: list) -> list:
    """Append the IndexHelpers in `made` to the <variables> `holder` of the tree PySD reads, each
    element defined with its position; returns the rest of `made`."""
    root = holder.getroottree().getroot()
    elements = {canonical(d.get("name", "")): [e.get("name", "") for e in children(d, "elem")]
                for dims in children(root, "dimensions") for d in children(dims, "dim")}
    ns = holder.tag[:-len("variables")]
    for helper in [m for m in made if isinstance(m, IndexHelper)]:
        node = holder.makeelement(ns + "aux", name=helper.name)
        holder.append(node)
        dims = node.makeelement(ns + "dimensions")
        node.append(dims)
        for dim in helper.dims:
            dims.append(dims.makeelement(ns + "dim", name=dim))
        combos = [[]]
        for dim in helper.dims:
            combos = [c + [e] for c in combos for e in elements[canonical(dim)]]
        for k, combo in enumerate(combos):
            element = node.makeelement(ns + "element", subscript=",".join(combo))
            eqn = element.makeelement(ns + "eqn")
            eqn.text = str(k)
            element.append(eqn)
            node.append(element)
    return [m for m in made if not isinstance(m, IndexHelper)]
