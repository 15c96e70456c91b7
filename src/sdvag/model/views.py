"""The diagram an XMILE file carries in its <views>: shapes by variable, connectors, pipes.

Read once here for everything that looks at a model's layout: the drawing (diagram.py) and the
diagram check (checks.py). View coordinates are points at 100 % zoom, as in Stella.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from sdvag.errors import SdvagError
from sdvag.model.xmile import ModelInfo, canonical, child, children, local, text

STOCK_SIZE = (45.0, 35.0)  # Stella's default shapes, in view units
MODULE_SIZE = (55.0, 45.0)
AUX_RADIUS = 9.0
VALVE_RADIUS = 7.0
Box = tuple[float, float, float, float]  # x0, y0, x1, y1 with y growing downwards


@dataclass
class Shape:
    """One drawn element of the view, with the name of the variable it stands for."""

    kind: str  # stock, flow, aux or module: what it looks like
    name: str
    x: float
    y: float
    half: tuple[float, float]
    round: bool
    side: str = ""
    ghost: bool = False  # an alias (Stella's "ghost") of a variable drawn elsewhere
    pts: list[tuple[float, float]] = field(default_factory=list)

    @property
    def box(self) -> Box:
        return (self.x - self.half[0], self.y - self.half[1], self.x + self.half[0], self.y + self.half[1])

    def edge(self, angle: float) -> tuple[float, float]:
        """The point of the outline in direction `angle` (radians, anticlockwise on screen)."""
        dx, dy = math.cos(angle), -math.sin(angle)
        if self.round:
            reach = self.half[0]
        else:
            reach = min(self.half[0] / abs(dx) if dx else math.inf, self.half[1] / abs(dy) if dy else math.inf)
        return self.x + dx * reach, self.y + dy * reach


def number(node, attr: str, default: float | None = None) -> float | None:
    """A coordinate or size; `default` if missing, not a number or not finite."""
    try:
        value = float(node.get(attr))
    except (TypeError, ValueError):
        return default
    return value if math.isfinite(value) else default


def stock_flow_view(info: ModelInfo):
    """The model's first stock-and-flow view that has something in it."""
    views = child(info.model, "views")
    for view in children(views, "view") if views is not None else []:
        if view.get("type", "stock_flow") == "stock_flow" and any(
                isinstance(e.tag, str) and local(e.tag) in ("stock", "flow", "aux", "module")
                for e in view):
            return view
    raise SdvagError(f"{info.path}: the model has no diagram (no <views> with a stock-and-flow "
                     f"view); lay one out in an XMILE editor such as Stella to draw it")


def shapes(info: ModelInfo, view) -> tuple[list[Shape], dict[str, Shape]]:
    kinds = {canonical(v.name): v.kind for v in info.variables.values()}
    shapes, by_uid = [], {}
    for node in view:
        tag = local(node.tag) if isinstance(node.tag, str) else ""
        if tag not in ("stock", "flow", "aux", "module", "alias"):
            continue
        name = text(node, "of") if tag == "alias" else node.get("name", "")
        x, y = number(node, "x"), number(node, "y")
        if not name or x is None or y is None:
            continue
        kind = kinds.get(canonical(name), "aux") if tag == "alias" else tag
        if kind in ("stock", "module"):
            w, h = STOCK_SIZE if kind == "stock" else MODULE_SIZE
            half, rounded = (number(node, "width", w) / 2, number(node, "height", h) / 2), False
        else:
            r = number(node, "width", 2 * (VALVE_RADIUS if kind == "flow" else AUX_RADIUS)) / 2
            half, rounded = (r, r), True
        pts = [(number(p, "x"), number(p, "y")) for p in
               (child(node, "pts") if child(node, "pts") is not None else []) if isinstance(p.tag, str)]
        pts = [pt for pt in pts if None not in pt]
        shape = Shape(kind, name, x, y, half, rounded, node.get("label_side", ""), tag == "alias",
                      pts if tag == "flow" else [])
        shapes.append(shape)
        if node.get("uid"):
            by_uid[node.get("uid")] = shape
    return shapes, by_uid


def connector_end(node, shapes: dict[str, Shape], by_uid: dict[str, Shape]) -> Shape | None:
    """A connector's <from> or <to>: a variable name, or an <alias uid=.../> of one."""
    if node is None:
        return None
    alias = child(node, "alias")
    if alias is not None:
        return by_uid.get(alias.get("uid", ""))
    return shapes.get(canonical(node.text or ""))


def inside(point: tuple[float, float], box: Box, slack: float = 4.0) -> bool:
    return box[0] - slack <= point[0] <= box[2] + slack and box[1] - slack <= point[1] <= box[3] + slack


def read_view(info: ModelInfo):
    """The stock-and-flow view, its shapes, the shapes by alias uid, and the (non-alias) shape of
    each variable by canonical name."""
    view = stock_flow_view(info)
    found, by_uid = shapes(info, view)
    named: dict[str, Shape] = {}
    for shape in found:
        if not shape.ghost:
            named.setdefault(canonical(shape.name), shape)
    return view, found, by_uid, named


def sector_boxes(view) -> list[tuple[str, Box]]:
    """(name, box) of every sector (<group>) drawn on the view."""
    return [(g.get("name", ""), (number(g, "x", 0), number(g, "y", 0),
                                 number(g, "x", 0) + number(g, "width", 0), number(g, "y", 0) + number(g, "height", 0)))
            for g in children(view, "group")]


def sectors(info: ModelInfo) -> dict[str, str]:
    """The sector of each variable drawn inside one: {variable name: sector name}, for grouping
    a model's constants as its modeller grouped them (empty for a model without a diagram)."""
    try:
        view, _, _, named = read_view(info)
    except SdvagError:
        return {}
    found = {}
    for name, var in info.variables.items():
        shape = named.get(canonical(name))
        for sector, box in sector_boxes(view) if shape is not None else []:
            if inside((shape.x, shape.y), box, slack=0):
                found[name] = sector
                break
    return found


def connectors(view, named: dict[str, Shape], by_uid: dict[str, Shape]):
    """(start shape, end shape, connector element) of every connector whose two ends are drawn."""
    found = []
    for connector in children(view, "connector"):
        start = connector_end(child(connector, "from"), named, by_uid)
        end = connector_end(child(connector, "to"), named, by_uid)
        if start is not None and end is not None:
            found.append((start, end, connector))
    return found
