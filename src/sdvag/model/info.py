"""What sdvag knows of a model, whatever file it came from: variables, time settings, tree."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree as ET

from sdvag.model.tree import canonical, main_model

_NUMBER = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")


@dataclass(frozen=True)
class Graphical:
    """A graphical function (lookup table): y as a function of x."""

    x: tuple[float, ...]
    y: tuple[float, ...]
    kind: str = "continuous"


@dataclass(frozen=True)
class Variable:
    name: str
    kind: str  # "stock", "flow", "aux" or "gf" (a stand-alone graphical function)
    equation: str = ""
    units: str = ""
    doc: str = ""
    range: tuple[float, float] | None = None
    graphical: Graphical | None = None
    inflows: tuple[str, ...] = ()
    outflows: tuple[str, ...] = ()
    non_negative: bool = False
    dimensions: tuple[str, ...] = ()
    node: ET.Element | None = field(default=None, compare=False, repr=False)
    # a .mdl array's elements with their equations ("" where not a number), read with the file
    elements: tuple[tuple[tuple[str, ...], str], ...] = field(default=(), compare=False, repr=False)

    @property
    def is_constant(self) -> bool:
        """A number the user may override: an aux or flow whose equation is a literal."""
        return (
            self.kind in ("aux", "flow")
            and self.graphical is None
            and bool(_NUMBER.match(self.equation))
        )

    @property
    def default(self) -> float | None:
        return float(self.equation) if self.is_constant else None

    @property
    def role(self) -> str:
        """The kind a modeller would name: stock, flow, constant, graphical or auxiliary."""
        if self.kind == "stock":
            return "stock"
        if self.graphical is not None or self.kind == "gf":
            return "graphical"
        if self.is_constant:
            return "constant"
        return "flow" if self.kind == "flow" else "auxiliary"


@dataclass(frozen=True)
class SimSpecs:
    start: float
    stop: float
    dt: float
    save_step: float
    method: str
    time_units: str
    # control variables the model computes (Vensim's FINAL TIME = IF THEN ELSE(...)): their
    # fields above are NaN, known only as a run produces them (simulation/computed_time.py)
    computed: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelInfo:
    path: Path
    sha256: str
    name: str
    sim: SimSpecs
    variables: dict[str, Variable]
    units: tuple[str, ...]
    root: ET.Element = field(compare=False, repr=False)
    data: bytes = field(default=b"", compare=False, repr=False)  # the file's content, as hashed
    refusals: tuple[tuple[str, str | None], ...] = ()  # (feature, variable) found while reading
    external: tuple[tuple[str, str], ...] = ()  # (variable, data file as written) it reads

    def find(self, name: str) -> Variable | None:
        """The variable a (case-, space- and underscore-insensitive) name refers to."""
        key = canonical(name)
        for var in self.variables.values():
            if canonical(var.name) == key:
                return var
        return None

    @property
    def model(self) -> ET.Element:
        return main_model(self.root)
