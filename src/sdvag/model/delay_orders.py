"""DELAY1 and DELAY3 (and Vensim's DELAY1I, DELAY3I) as the chains of stocks they stand for.

A fixed-order material delay is a chain of `order` first-order stocks, each emptied at its
content over delay/order (Sterman, Business Dynamics, ch. 11): Vensim's DELAY1 and DELAY3 are
macros of exactly these stocks (its output lists their levels, LV1 to LV3, as in SDEverywhere's
delay test's reference), the XMILE standard defines DELAY3 as three such delays in
cascade, and both keep that order whatever TIME STEP. PySD's Delay object lowers the order
while order x DT exceeds the delay time (the smallest one of an array): a silently different
model (0.0073 off Vensim's output for DELAY3 with delay 2 at DT 1 in SDXorg's
test_arguments.mdl, 3.6e-6 with the order kept). PySD's abstract model of the file is therefore
given the stocks instead of the call, before PySD's builder writes Python and before sdvag's
own engine builds from it, for every DELAY1 and DELAY3 that may be short: whose delay time is
a number or a constant (the smallest element of an array) under order x DT of the model's
file, or, in an unsubscripted variable, anything else (an expression, a variable). The others
stay PySD's Delay: PySD stacks every stock's state into one numpy array, which fails for some
arrays of stocks beside others (model/vensim.py, _unstackable_stocks), so an arrayed delay is
not made stocks unless it must be. A run whose values (a scenario's constant, another DT) make
one of those short is refused (PySD's warning, lowered_order_problem).

DELAY N (XMILE's DELAYN; PySD's DelayN) is left to PySD, whose lowering is Vensim's: Vensim's
manual says DELAY N lowers its order until order x TIME STEP fits the delay time, and SDXorg's
delay_pipeline reference (DELAY N of order 3, delay 1.25, DT 0.5) agrees with PySD within
4.7e-6 (5.8 off with the order kept). That is known only of Vensim's models (and of XMILE that
xmutil converted from them): no statement of what DELAYN does then was found in the XMILE
standard or Stella's documentation, and PySD lowers an arrayed delay to suit its shortest
element. Those are refused when PySD lowers them (lowered_order_problem).

Each stock takes the variable's subscripts, so apply-to-all and element-by-element equations
keep their arrays; its name is `<variable> delay<order> stage <k>` (a number added if taken).
"""
from __future__ import annotations

import copy
from dataclasses import fields, is_dataclass

import numpy as np

from pysd.translators.structures import abstract_expressions as ae
from pysd.translators.structures.abstract_model import AbstractComponent, AbstractElement

from sdvag.model.info import ModelInfo
from sdvag.model.tree import canonical, child, text
from sdvag.model.xmile import VENSIM_SUFFIX


def _unique(base: str, taken: set[str]) -> str:
    name, k = base, 2
    while any(canonical(f"{name} stage {i}") in taken for i in (1, 2, 3)):
        name, k = f"{base} {k}", k + 1
    return name


def _least(node, constants: dict[str, float]) -> float | None:
    """The smallest value a delay time may take if it is a number or names a constant (the
    smallest element of an array); None for anything else."""
    if isinstance(node, (int, float)) and not isinstance(node, bool):
        return float(node)
    if isinstance(node, ae.ReferenceStructure):
        return constants.get(canonical(node.reference))
    return None


def _constants(elements) -> dict[str, float]:
    """Each variable whose every component is a number or an array of numbers (a control
    such as TIME STEP too), by canonical name: its smallest value."""
    found = {}
    for element in elements:
        values = [np.min(c.ast) for c in element.components
                  if isinstance(c.ast, (int, float, np.ndarray)) and not isinstance(c.ast, bool)]
        if values and len(values) == len(element.components):
            found[canonical(element.name)] = float(min(values))
    return found


def _may_be_short(delay: ae.DelayStructure, subscripts: tuple, constants: dict[str, float]) -> bool:
    """Whether PySD could lower this delay's order with the file's own values (see above)."""
    least, dt = _least(delay.delay_time, constants), constants.get("time step")
    if least is None or dt is None:
        return not subscripts[0]
    return int(delay.order) * dt > least


def _chain(delay: ae.DelayStructure, owner: str, subscripts: tuple, taken: set[str],
           added: list[AbstractElement]) -> ae.ArithmeticStructure:
    """Append the delay's stocks to `added` and return its output: the last stock's outflow."""
    order = int(delay.order)
    base = _unique(f"{owner} delay{order}", taken)
    indices = ae.SubscriptsReferenceStructure(list(subscripts[0])) if subscripts[0] else None

    def outflow(k: int):  # stock k / (delay time / order)
        # PySD's builder finds a reference by the name in lower case, spaces as underscores
        stock = ae.ReferenceStructure(f"{base} stage {k}".lower().replace(" ", "_"), copy.deepcopy(indices))
        return ae.ArithmeticStructure(["/"], (stock, ae.ArithmeticStructure(
            ["/"], (copy.deepcopy(delay.delay_time), order))))

    for k in range(1, order + 1):
        inflow = delay.input if k == 1 else outflow(k - 1)
        start = ae.ArithmeticStructure(["*"], (copy.deepcopy(delay.initial), ae.ArithmeticStructure(
            ["/"], (copy.deepcopy(delay.delay_time), order))))
        stock = ae.IntegStructure(ae.ArithmeticStructure(["-"], (inflow, outflow(k))), start, False)
        name = f"{base} stage {k}"
        taken.add(canonical(name))
        added.append(AbstractElement(name, [AbstractComponent(copy.deepcopy(subscripts), stock)]))
    return outflow(order)


def _staged(node, owner: str, subscripts: tuple, constants: dict[str, float], taken: set[str], added: list):
    """The expression with each DelayStructure in it that may be short (innermost first)
    replaced by its chain."""
    if isinstance(node, (list, tuple)):
        return type(node)(_staged(item, owner, subscripts, constants, taken, added) for item in node)
    if not isinstance(node, ae.AbstractSyntax) or not is_dataclass(node):
        return node
    for f in fields(node):
        setattr(node, f.name, _staged(getattr(node, f.name), owner, subscripts, constants, taken, added))
    if isinstance(node, ae.DelayStructure) and _may_be_short(node, subscripts, constants):
        return _chain(node, owner, subscripts, taken, added)
    return node


def delays_as_stocks(model):
    """PySD's AbstractModel with every DELAY1 and DELAY3 that may be short made into its chain
    of stocks (in place; returned for convenience)."""
    for section in model.sections:
        taken = {canonical(e.name) for e in section.elements}
        constants = _constants(model.sections[0].elements) | _constants(section.elements)
        added: list[AbstractElement] = []
        for element in section.elements:
            for component in element.components:
                component.ast = _staged(component.ast, element.name, component.subscripts, constants,
                                        taken, added)
        if added:
            section.elements = type(section.elements)(list(section.elements) + added)
    return model


def vensim_delays(info: ModelInfo) -> bool:
    """Whether the model's DELAY N is Vensim's: a .mdl, or XMILE that xmutil wrote from one."""
    if info.path.suffix.lower() == VENSIM_SUFFIX:
        return True
    header = child(info.root, "header")
    made_by = f"{text(header, 'vendor')} {text(header, 'product')}".lower() if header is not None else ""
    return "vensim" in made_by or "xmutil" in made_by


def lowered_order_problem(info: ModelInfo, variable: str | None, order: int, fixed: bool) -> str | None:
    """Why a delay in `variable` whose order PySD lowered to `order` (delay time < order x DT)
    cannot be run as it is, or None where the lowering is Vensim's. `fixed`: a DELAY1 or DELAY3
    (one that the file's own values do not make short, see above), else a DELAY N."""
    if fixed:
        return ("a DELAY1 or DELAY3 shorter than its order times DT with this run's values (PySD "
                "would lower its order, which Vensim and Stella keep; sdvag keeps it only where the "
                "model file's own values make the delay short)")
    if order < 1:
        return "a DELAY N shorter than DT (PySD lowers its order to 0: no stage left)"
    if not vensim_delays(info):
        return ("a DELAYN shorter than its order times DT (PySD lowers its order, as Vensim does; "
                "what Stella and the XMILE standard do then is not documented)")
    var = info.find(variable) if variable else None
    if var is None or var.dimensions:
        return ("an arrayed DELAY N shorter than its order times DT (PySD lowers every element's "
                "order to suit the shortest delay time)")
    return None
