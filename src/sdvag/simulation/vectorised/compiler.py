"""PySD's abstract model of a file, built into numpy functions that evaluate many runs at once.

PySD 3 translates XMILE into an AbstractModel (pysd.translators.structures) and its Python
builder writes one function per variable from it. This builder walks the same abstract syntax
and writes one function per variable that takes the evaluation state `s` and returns an array
with one value per run, giving every builtin PySD's meaning (pysd.builders.python and
pysd.py_backend.functions). The functions' code is made of numbers, string literals of the
variables' keys, numpy and a few helpers only: no text of the model is executed. Whatever this
builder does not know raises NotCovered, and the caller runs PySD instead. The same code runs
on numpy or, for the accelerated backend, on jax.numpy (Program.using): `_np` in it is the
array module.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import partial
from typing import Callable

import numpy as np
from pysd.translators.structures import abstract_expressions as ae
from pysd.translators.structures.abstract_model import AbstractControlElement

from sdvag.model.xmile import canonical
from sdvag.simulation.vectorised.statefuls import (SMALL_VENSIM, Delay, DelayFixed, Initial, Integ, Smooth,
                                                   Trend, zidz)

Expr = Callable[["object"], object]  # a function of the evaluation state (integrate.State)


class NotCovered(Exception):
    """The model uses something this engine does not evaluate (PySD runs it instead)."""


def pysd_points(values) -> np.ndarray:
    """Table points as PySD's builder writes them into the model's code: every float exactly
    (sdvag translates with numpy's 'unique' print mode, model/translate.py), so that both
    engines interpolate between the same numbers."""
    return np.array(values, dtype=float)


@dataclass
class Table:
    """A graphical function: interpolated ('interpolate'), extrapolated ('extrapolate') or
    held ('hold_backward') as PySD's lookups do."""

    x: np.ndarray
    y: np.ndarray
    kind: str = "interpolate"
    xp: object = field(default=np, repr=False, compare=False)  # the array module

    def __call__(self, value):
        x, y, xp = self.x, self.y, self.xp
        value = xp.asarray(value, dtype=float)
        if self.kind == "hold_backward":
            i = xp.clip(xp.searchsorted(x, value, side="right") - 1, 0, len(x) - 1)
            return xp.asarray(y)[i]
        out = xp.interp(value, x, y)
        if self.kind == "extrapolate" and len(x) > 1:
            low = y[0] + (y[1] - y[0]) / (x[1] - x[0]) * (value - x[0])
            high = y[-1] + (y[-1] - y[-2]) / (x[-1] - x[-2]) * (value - x[-1])
            out = xp.where(value < x[0], low, xp.where(value > x[-1], high, out))
        return out

    def using(self, xp) -> "Table":
        return self if xp is self.xp else replace(self, xp=xp)

    def fingerprint(self) -> tuple:
        """Equal for tables with equal points (the accelerated backend compiles them in)."""
        return (self.kind, np.asarray(self.x, dtype=float).tobytes(), np.asarray(self.y, dtype=float).tobytes())


@dataclass
class Program:
    """A model built for the engine: a function per variable, its stateful objects and tables."""

    names: dict[str, str]                      # key (canonical name) -> the model's name
    exprs: dict[str, Expr]                     # key -> its function
    depends: dict[str, set[str]]               # key -> keys (and "time") it reads directly
    statefuls: list
    tables: dict[str, Table] = field(default_factory=dict)   # key -> its graphical function
    source: str = ""                           # the functions' code (numbers, keys, `_np`, helpers)
    specs: list = field(default_factory=list)  # (stateful class, argument functions, extra, label)
    fixed_tables: list = field(default_factory=list)
    functions: dict[str, str] = field(default_factory=dict)  # key -> its function's name in `source`
    xp: object = np
    _modules: dict = field(default_factory=dict, repr=False)

    def using(self, xp) -> "Program":
        """The same program on another array module (jax.numpy), built once per process."""
        if xp is self.xp:
            return self
        if id(xp) not in self._modules:
            self._modules[id(xp)] = _instantiate(self, xp)
        return self._modules[id(xp)]


def _instantiate(program: Program, xp) -> Program:
    """Execute the program's code with `xp` as its array module and build its statefuls."""
    space = {**_helpers(xp), "_T": [t.using(xp) for t in program.fixed_tables]}
    exec(compile(program.source, "<sdvag vectorised model>", "exec"), space)  # noqa: S102
    statefuls = [cls(*[space[f] for f in args], *extra, label) for cls, args, extra, label in program.specs]
    for stateful in statefuls:
        stateful.xp = xp
    space["_S"] = statefuls
    exprs = {k: space[f] for k, f in program.functions.items()}
    return Program(program.names, exprs, program.depends, statefuls,
                   {k: t.using(xp) for k, t in program.tables.items()}, program.source, program.specs,
                   program.fixed_tables, program.functions, xp)


def _ramp(s, slope, start, finish=None, xp=np):
    t = s.t
    final = t if finish is None else xp.minimum(finish, t)
    return (t + SMALL_VENSIM > start) * slope * (final - start)


def _pulse(s, start, repeat_time=0.0, magnitude=None, xp=np):
    """XMILE PULSE(magnitude, start[, interval]) as PySD's functions.pulse, per run."""
    t, dt = s.t, s.dt
    width = .5 * dt
    out = magnitude / dt
    single = (start - SMALL_VENSIM <= t) & (t < start + width)
    if isinstance(repeat_time, (int, float)) and repeat_time == 0:
        return xp.where(single, out, 0.0)
    with np.errstate(all="ignore"):
        train = (start <= t) & (xp.mod(t - start + SMALL_VENSIM, repeat_time) < width)
    return xp.where(xp.asarray(repeat_time) == 0, xp.where(single, out, 0.0), xp.where(train, out, 0.0))


def _modulo(x, m, xp=np):
    """PySD's modulo (functions.modulo, Vensim's MODULO): x - m * trunc(x / m), the sign of x;
    0 where m is not positive (PySD's quantum returns x there)."""
    return xp.where(m < SMALL_VENSIM, x - x, x - m * xp.trunc(x / m))


def _power_chain(*values, xp=np):
    result = values[-1]
    for base in reversed(values[:-1]):
        result = xp.power(base, result)
    return result


_UNARY = {"abs": "_np.abs", "exp": "_np.exp", "sin": "_np.sin", "cos": "_np.cos", "tan": "_np.tan",
          "arcsin": "_np.arcsin", "arccos": "_np.arccos", "arctan": "_np.arctan", "sqrt": "_np.sqrt",
          "ln": "_np.log", "integer": "_np.trunc", "sinh": "_np.sinh", "cosh": "_np.cosh",
          "tanh": "_np.tanh"}
# Python's operators on floats and numpy arrays; ^ as numpy's power (NaN, not complex, for a
# negative base); a run of one level of precedence reads left to right, as in PySD's code.
_BINARY = {"*": "*", "/": "/", "+": "+", "-": "-", "=": "==", "<>": "!=", ">=": ">=", ">": ">",
           "<=": "<=", "<": "<"}
_LOGIC = {":AND:": "_np.logical_and", ":OR:": "_np.logical_or"}
CONTROLS = {"initial time": "_np.float64(s.start)", "final time": "_np.float64(s.stop)",
            "time step": "_np.float64(s.dt)", "saveper": "_np.float64(s.save_step)"}


def _helpers(xp) -> dict:
    """The names the functions' code may use, on the array module `xp`."""
    return {"_np": xp, **{name: partial(f, xp=xp) for name, f in
                          (("_zidz", zidz), ("_ramp", _ramp), ("_pulse", _pulse), ("_power", _power_chain),
                                                   ("_modulo", _modulo))}}


class Builder:
    """Walks the abstract syntax of one model and writes one small Python function per
    variable and per argument of a stateful object. The code holds only numbers (as Python
    literals), variable keys (as string literals, repr), numpy and the helpers above: nothing
    of the model's text is executed."""

    def __init__(self, abstract_model, lowers_delay_orders: bool):
        self.lowers_delay_orders = lowers_delay_orders  # a DELAY N as Vensim's (model/delay_orders.py)
        sections = abstract_model.sections
        if len(sections) != 1:
            raise NotCovered("macros")
        elements = sections[0].elements
        self.elements = [e for e in elements if not isinstance(e, AbstractControlElement)]
        # PySD's control variables read the run's time settings, whatever their equations
        self.controls = {canonical(e.name): e.name for e in elements if isinstance(e, AbstractControlElement)
                         and canonical(e.name) in CONTROLS}
        self.keys = {canonical(e.name): e.name for e in self.elements}
        self.lookups = {canonical(e.name) for e in self.elements
                        if any(isinstance(c.ast, ae.LookupsStructure) for c in e.components)}
        self.stateful_specs: list[tuple] = []   # (class, [argument function names], extra, label)
        self.tables: dict[str, Table] = {}
        self.fixed_tables: list[Table] = []
        self.sources: list[str] = []
        self._current = ""
        self._deps: set[str] = set()

    def build(self) -> Program:
        names, depends = {}, {}
        for element in self.elements:
            key = canonical(element.name)
            if len(element.components) != 1:
                raise NotCovered(f"arrays (variable {element.name!r})")
            component = element.components[0]
            if component.subscripts and any(component.subscripts):
                raise NotCovered(f"arrays (variable {element.name!r})")
            self._current, self._deps = key, set()
            ast = component.ast
            if isinstance(ast, ae.LookupsStructure):
                self.tables[key] = Table(pysd_points(ast.x), pysd_points(ast.y), ast.type)
                continue
            names[key] = self.function(self.code(ast, top=True))
            depends[key] = self._deps
        for key, name in self.controls.items():
            self.keys[key] = name
            names[key] = self.function(CONTROLS[key])
            depends[key] = set()
        program = Program(dict(self.keys), {}, depends, [], self.tables, "\n".join(self.sources),
                          self.stateful_specs, self.fixed_tables, names)
        return _instantiate(program, np)

    def function(self, code: str) -> str:
        """The name of a new function of the state returning `code`."""
        name = f"_f{len(self.sources)}"
        self.sources.append(f"def {name}(s):\n    v = s.v\n    return {code}\n")
        return name

    # -- expressions: each returns Python source --------------------------------------------

    def code(self, ast, top: bool = False) -> str:
        """Python source for `ast`; `top`: the whole equation of the current variable."""
        if isinstance(ast, (bool, int, float, np.number)):
            value = float(ast)
            if not np.isfinite(value):
                raise NotCovered(f"the number {value}")
            if top:  # a variable's value is always numpy's: x / 0 gives inf (a failed run), not an error
                return f"_np.float64({value!r})"
            return repr(value)
        if isinstance(ast, ae.ReferenceStructure):
            return self.reference(ast)
        if isinstance(ast, (ae.ArithmeticStructure, ae.LogicStructure)):
            return self.operation(ast)
        if isinstance(ast, ae.CallStructure):
            return self.call(ast)
        if isinstance(ast, ae.InlineLookupsStructure):
            table = Table(pysd_points(ast.lookups.x), pysd_points(ast.lookups.y))
            argument = self.code(ast.argument)
            if top:  # a variable with a graphical function: its table may be overridden
                key = self._current
                self.tables[key] = table
                return f"s.tables[{key!r}]({argument})"
            self.fixed_tables.append(table)
            return f"_T[{len(self.fixed_tables) - 1}]({argument})"
        index = self.stateful(ast)
        if index is None:
            raise NotCovered(f"{type(ast).__name__} (variable {self.keys.get(self._current)!r})")
        self._deps.add("<stateful>")
        return f"s.output(_S[{index}])"

    def reference(self, ast) -> str:
        if ast.subscripts:
            raise NotCovered("arrays (subscripted references)")
        name = ast.reference
        if name == "time":
            self._deps.add("time")
            return "s.t"
        key = canonical(name)
        if key in self.controls:
            self._deps.add(key)
            return f"v[{key!r}]"
        if key not in self.keys or key in self.lookups:
            raise NotCovered(f"the reference {name!r}")
        self._deps.add(key)
        return f"v[{key!r}]"

    def operation(self, ast) -> str:
        ops, args = list(ast.operators), [self.code(a) for a in ast.arguments]
        if len(args) == 1:
            if ops[0] == "negative":
                return f"(-{args[0]})"
            if ops[0] == ":NOT:":
                return f"_np.logical_not({args[0]})"
            raise NotCovered(f"the operator {ops[0]}")
        if ops == ["^"] * len(ops):  # PySD writes a**b**c: right-associative
            base = ast.arguments[0]
            if isinstance(base, (int, float)) and base < 0:  # -2^2 is -(2^2), as PySD's -2**2
                return f"(-_power({', '.join([repr(-float(base)), *args[1:]])}))"
            return f"_power({', '.join(args)})"
        text = args[0]
        for op, arg in zip(ops, args[1:]):
            if op in _LOGIC:
                text = f"{_LOGIC[op]}({text}, {arg})"
            elif op in _BINARY:
                text = f"({text} {_BINARY[op]} {arg})"
            else:
                raise NotCovered(f"the operator {op} among others")
        return text

    def call(self, ast) -> str:
        name = ast.function.reference if isinstance(ast.function, ae.ReferenceStructure) else None
        key = canonical(name) if name else None
        args = [self.code(a) for a in ast.arguments]
        a = ", ".join(args)
        if key in self.lookups and len(args) == 1:  # a stand-alone graphical function
            return f"s.tables[{key!r}]({a})"
        if name in _UNARY and len(args) == 1:
            return f"{_UNARY[name]}({a})"
        if name in ("min", "max") and len(args) == 2:
            return f"_np.{name}imum({a})"
        if name == "log" and len(args) == 2:
            value, base = args
            return f"(_np.log({value}) / _np.log({base}))"
        if name == "modulo" and len(args) == 2:
            return f"_modulo({a})"
        if name == "if_then_else" and len(args) == 3:
            return f"_np.where({a})"
        if name == "zidz" and len(args) == 2:
            return f"_zidz({a})"
        if name == "xidz" and len(args) == 3:
            num, den, x = args
            return f"_np.where(_np.abs({den}) < {SMALL_VENSIM!r}, {x}, {num} / {den})"
        if name in ("step", "ramp", "Xramp", "Xpulse", "Xpulse_train"):
            self._deps.add("time")
        if name == "step" and len(args) == 2:
            height, at = args
            return f"({height} * (s.t + s.dt / 2 > {at}))"
        if name in ("ramp", "Xramp") and len(args) in (2, 3):
            return f"_ramp(s, {a})"
        if name == "Xpulse" and len(args) == 2:
            start, magnitude = args
            return f"_pulse(s, {start}, magnitude={magnitude})"
        if name == "Xpulse_train" and len(args) == 3:
            return f"_pulse(s, {a})"
        raise NotCovered(f"the builtin {name}()")

    def stateful(self, ast) -> int | None:
        label = self.keys.get(self._current, self._current)
        f = lambda node: self.function(self.code(node))  # noqa: E731
        if isinstance(ast, ae.IntegStructure):
            spec = (Integ, [f(ast.flow), f(ast.initial)], (bool(ast.non_negative),))
        elif isinstance(ast, (ae.DelayNStructure, ae.DelayStructure)):
            spec = (Delay, [f(ast.input), f(ast.delay_time), f(ast.initial), f(ast.order)],
                    (isinstance(ast, ae.DelayNStructure), self.lowers_delay_orders))
        elif isinstance(ast, ae.DelayFixedStructure):
            spec = (DelayFixed, [f(ast.input), f(ast.delay_time), f(ast.initial)], ())
        elif isinstance(ast, (ae.SmoothStructure, ae.SmoothNStructure)):
            spec = (Smooth, [f(ast.input), f(ast.smooth_time), f(ast.initial), f(ast.order)], ())
        elif isinstance(ast, ae.TrendStructure):
            spec = (Trend, [f(ast.input), f(ast.average_time), f(ast.initial_trend)], ())
        elif isinstance(ast, ae.InitialStructure):
            spec = (Initial, [f(ast.initial)], ())
        else:
            return None
        self.stateful_specs.append((*spec, label))
        return len(self.stateful_specs) - 1


def build(abstract_model, lowers_delay_orders: bool) -> Program:
    """The engine's program for a PySD AbstractModel (raises NotCovered). `lowers_delay_orders`:
    a DELAY N shorter than its order times DT has its order lowered (Vensim's), else it fails."""
    return Builder(abstract_model, lowers_delay_orders).build()
