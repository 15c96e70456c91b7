"""Draw a model's stock-and-flow diagram from the file's own <views>, the layout its modeller made.

The picture shows what an XMILE editor shows (stocks, pipes with valves and clouds, auxiliaries,
curved connectors, sectors and text boxes), so a diagram in a paper or a README matches the file.
sdvag adds only label placement: each name goes to the side of its shape where it hides the
fewest other shapes and labels. View coordinates are points at 100 % zoom, as in Stella.
"""
from __future__ import annotations

import io
import math
import textwrap
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Polygon, Rectangle

from sdvag.errors import SdvagError
from sdvag.files import atomic_write
from sdvag.model.rewrite import require_xmile
from sdvag.model.views import Box, Shape, connectors, inside, number, read_view, sector_boxes
from sdvag.model.xmile import ModelInfo, children, read_model

FORMATS = ("png", "svg")
FONT_PT = 8.5
LABEL_CHARS = 16  # names wrap at spaces beyond this many characters a line
CLOUD_RADIUS = 9.0
INK, PIPE, LINK, SECTOR = "#222222", "#4a4a4a", "#2f6db5", "#eef1f5"



def _label(info: ModelInfo, name: str) -> str:
    """The variable's name as its editor shows it: Stella's escaped line breaks kept, else wrapped."""
    var = info.find(name)
    name = (var.name if var else name).replace("_", " ")
    if "\\n" in name or "\n" in name:
        return name.replace("\\n", "\n")
    return textwrap.fill(name, LABEL_CHARS, break_long_words=False, break_on_hyphens=False)


def _overlap(a: Box, b: Box) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0.0


def _label_box(shape: Shape, label: str, side: str) -> Box:
    lines = label.split("\n")
    w = max(len(line) for line in lines) * 0.58 * FONT_PT
    h = len(lines) * 1.18 * FONT_PT
    gap = 2.5
    hx, hy = shape.half
    if side == "top":
        cx, cy = shape.x, shape.y - hy - gap - h / 2
    elif side == "right":
        cx, cy = shape.x + hx + gap + w / 2, shape.y
    elif side == "left":
        cx, cy = shape.x - hx - gap - w / 2, shape.y
    else:
        cx, cy = shape.x, shape.y + hy + gap + h / 2
    return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2


def place_labels(shapes: list[Shape], labels: list[str], obstacles: list[Box]) -> list[Box]:
    """A box for each label, on the side of its shape that overlaps least (modeller's side first)."""
    placed: list[Box] = []
    taken = list(obstacles)
    for shape, label in zip(shapes, labels):
        sides = ["bottom", "top", "right", "left"]
        if shape.side in sides:
            sides.remove(shape.side)
            sides.insert(0, shape.side)
        scored = [(sum(_overlap(box, o) for o in taken) + 0.01 * rank, box)  # ties: the earlier side
                  for rank, box in enumerate(_label_box(shape, label, side) for side in sides)]
        best = min(scored)[1]
        placed.append(best)
        taken.append(best)
    return placed


def _pipe_boxes(shape: Shape) -> list[Box]:
    boxes = []
    for (x0, y0), (x1, y1) in zip(shape.pts, shape.pts[1:]):
        boxes.append((min(x0, x1) - 3, min(y0, y1) - 3, max(x0, x1) + 3, max(y0, y1) + 3))
    return boxes


def _clouds(flows: list[Shape], stocks: list[Shape]) -> list[tuple[float, float]]:
    """Centres of the clouds drawn where a pipe starts or ends away from any stock."""
    centres = []
    for flow in flows:
        if len(flow.pts) < 2:
            continue
        for end, before in ((flow.pts[0], flow.pts[1]), (flow.pts[-1], flow.pts[-2])):
            if any(inside(end, s.box) for s in stocks):
                continue
            dx, dy = end[0] - before[0], end[1] - before[1]
            norm = math.hypot(dx, dy) or 1.0
            centres.append((end[0] + dx / norm * CLOUD_RADIUS, end[1] + dy / norm * CLOUD_RADIUS))
    return centres


def _links(view, named: dict[str, Shape], by_uid: dict[str, Shape]) -> list[tuple[tuple, tuple, float]]:
    """(start, end, arc3 rad) of each connector: leaving its source at the connector's `angle`,
    on the circular-looking arc that matplotlib's arc3 draws between the two outlines."""
    links = []
    for start, end, connector in connectors(view, named, by_uid):
        if start is end:
            continue
        chord = math.atan2(-(end.y - start.y), end.x - start.x)
        angle = number(connector, "angle")
        leave = math.radians(angle) if angle is not None else chord
        bend = max(-1.3, min(1.3, math.remainder(leave - chord, 2 * math.pi)))
        a = start.edge(chord + bend)
        b = end.edge(chord - bend + math.pi)
        bend = math.remainder(chord + bend - math.atan2(-(b[1] - a[1]), b[0] - a[0]), 2 * math.pi)
        links.append((a, b, -math.tan(bend) / 2))
    return links


def _link_boxes(a, b, rad: float, step: float = 8.0) -> list[Box]:
    """Small boxes along a connector's curve, so that labels avoid covering connectors too."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    # arc3's control point, in view coordinates (y down): the chord's midpoint moved sideways
    cx, cy = (a[0] + b[0]) / 2 - rad * dy, (a[1] + b[1]) / 2 + rad * dx
    n = max(2, int(math.hypot(dx, dy) / step))
    boxes = []
    for i in range(1, n):
        t = i / n
        x = (1 - t) ** 2 * a[0] + 2 * t * (1 - t) * cx + t * t * b[0]
        y = (1 - t) ** 2 * a[1] + 2 * t * (1 - t) * cy + t * t * b[1]
        boxes.append((x - 1.5, y - 1.5, x + 1.5, y + 1.5))
    return boxes


def _draw_pipes(ax, flows: list[Shape], clouds: list[tuple[float, float]]) -> None:
    """Pipes (a dark band with a white core) ending in an arrowhead, and their clouds."""
    for flow in flows:
        if len(flow.pts) < 2:
            continue
        xs, ys = zip(*flow.pts)
        ax.plot(xs, ys, color=PIPE, linewidth=4.5, solid_capstyle="butt", solid_joinstyle="miter", zorder=2)
        ax.plot(xs, ys, color="white", linewidth=2.0, solid_capstyle="butt", solid_joinstyle="miter", zorder=2.1)
        (sx, sy), (bx, by) = flow.pts[-2], flow.pts[-1]
        d = math.hypot(bx - sx, by - sy) or 1.0
        ux, uy = (bx - sx) / d, (by - sy) / d
        tip = (bx, by)
        base = (bx - 9 * ux, by - 9 * uy)
        ax.add_patch(Polygon([tip, (base[0] - 5.5 * uy, base[1] + 5.5 * ux), (base[0] + 5.5 * uy, base[1] - 5.5 * ux)],
                             closed=True, facecolor=PIPE, edgecolor=PIPE, linewidth=0.5, zorder=2.2))
    for cx, cy in clouds:
        puffs = [(-4.5, 1.5, 5.5), (4.5, 1.5, 5.5), (0, -3, 6), (0, 3.5, 5)]
        for ox, oy, r in puffs:
            ax.add_patch(Circle((cx + ox, cy + oy), r, facecolor="white", edgecolor="#777777", linewidth=0.8, zorder=2.3))
        for ox, oy, r in puffs:
            ax.add_patch(Circle((cx + ox, cy + oy), r - 0.6, facecolor="white", edgecolor="none", zorder=2.4))


def _draw_shape(ax, info: ModelInfo, shape: Shape) -> None:
    """A stock or module as a box, a flow as a valve, anything else as a circle; aliases dashed."""
    edge = "#888888" if shape.ghost else INK
    style = "--" if shape.ghost else "-"
    x, y = shape.x, shape.y
    if shape.kind in ("stock", "module"):
        w, h = 2 * shape.half[0], 2 * shape.half[1]
        ax.add_patch(Rectangle((x - w / 2, y - h / 2), w, h, facecolor="#e4eefb" if shape.kind == "stock" else "white",
                               edgecolor=edge, linewidth=1.1, linestyle=style, zorder=4))
    elif shape.kind == "flow":
        r = shape.half[0]
        horizontal = len(shape.pts) < 2 or abs(shape.pts[-1][0] - shape.pts[-2][0]) >= abs(shape.pts[-1][1] - shape.pts[-2][1])
        nx, ny = (0, 1) if horizontal else (1, 0)
        px, py = ny, nx
        for sign in (1, -1):
            ax.add_patch(Polygon([(x, y), (x + sign * r * nx - 0.75 * r * px, y + sign * r * ny - 0.75 * r * py),
                                  (x + sign * r * nx + 0.75 * r * px, y + sign * r * ny + 0.75 * r * py)],
                                 closed=True, facecolor="white", edgecolor=edge, linewidth=0.9, zorder=4))
    else:
        var = info.find(shape.name)
        ax.add_patch(Circle((x, y), shape.half[0], facecolor="white", edgecolor=edge, linewidth=0.9,
                            linestyle=style, zorder=4))
        if var is not None and var.graphical is not None:
            ax.text(x, y, "~", fontsize=FONT_PT, ha="center", va="center", color=INK, zorder=4.1)


def render(info: ModelInfo):
    """The diagram as a matplotlib Figure, sized so that one view unit is one point."""
    view, shapes, by_uid, named = read_view(info)
    stocks = [s for s in shapes if s.kind in ("stock", "module")]
    flows = [s for s in shapes if s.kind == "flow" and not s.ghost]
    clouds = _clouds(flows, stocks)
    groups = [(name, x0, y0, x1 - x0, y1 - y0) for name, (x0, y0, x1, y1) in sector_boxes(view)]
    notes = [((t.text or "").strip(), number(t, "x", 0), number(t, "y", 0), number(t, "width", 0),
              number(t, "height", 0)) for t in children(view, "text_box") if (t.text or "").strip()]

    obstacles = [s.box for s in shapes] + [b for f in flows for b in _pipe_boxes(f)]
    obstacles += [(cx - CLOUD_RADIUS, cy - CLOUD_RADIUS, cx + CLOUD_RADIUS, cy + CLOUD_RADIUS) for cx, cy in clouds]
    obstacles += [(x, y, x + w, y + max(h, 14)) for _, x, y, w, h in notes]
    obstacles += [(x, y, x + 0.6 * 9 * len(name) + 8, y + 16) for name, x, y, _, _ in groups]
    links = _links(view, named, by_uid)
    crossings = [box for a, b, rad in links for box in _link_boxes(a, b, rad)]
    labels = [_label(info, s.name) for s in shapes]
    label_boxes = place_labels(shapes, labels, obstacles + crossings)

    everything = obstacles + label_boxes + [(x, y, x + w, y + h) for _, x, y, w, h in groups]
    x0 = min(b[0] for b in everything) - 15
    y0 = min(b[1] for b in everything) - 32
    x1 = max(b[2] for b in everything) + 15
    y1 = max(b[3] for b in everything) + 15
    fig = Figure(figsize=((x1 - x0) / 72, (y1 - y0) / 72))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(x0, x1)
    ax.set_ylim(y1, y0)
    ax.set_axis_off()
    ax.text(x0 + 15, y0 + 8, info.name, fontsize=12, fontweight="bold", va="top", ha="left", color=INK)

    for name, x, y, w, h in groups:
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0,rounding_size=8",
                                    facecolor=SECTOR, edgecolor="#c3cad3", linewidth=0.8, zorder=0))
        ax.text(x + 8, y + 5, name, fontsize=9, fontweight="bold", color="#5b6470", va="top", ha="left", zorder=0.5)
    for note, x, y, w, h in notes:
        ax.text(x, y, note, fontsize=9.5, fontstyle="italic", color="#3b4450", va="top", ha="left", zorder=0.5)

    _draw_pipes(ax, flows, clouds)
    for a, b, rad in links:
        ax.add_patch(FancyArrowPatch(a, b, connectionstyle=f"arc3,rad={rad:.4f}",
                                     arrowstyle="-|>,head_length=5,head_width=2.6", shrinkA=0, shrinkB=0,
                                     color=LINK, linewidth=0.8, zorder=3))

    for shape in shapes:
        _draw_shape(ax, info, shape)

    for shape, label, box in zip(shapes, labels, label_boxes):
        ax.text((box[0] + box[2]) / 2, (box[1] + box[3]) / 2, label, fontsize=FONT_PT, ha="center",
                va="center", linespacing=1.0, color="#666666" if shape.ghost else INK,
                fontstyle="italic" if shape.ghost else "normal", zorder=5,
                bbox=dict(boxstyle="square,pad=0.1", facecolor="white", edgecolor="none", alpha=0.75))
    return fig


def draw(model_path: str | Path, out: str | Path | None = None) -> Path:
    """Draw the model's own diagram to `out` (.png or .svg; default: MODEL_STEM.png here)."""
    model_path = Path(model_path)
    out = Path(out) if out else Path.cwd() / f"{model_path.stem}.png"
    fmt = out.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise SdvagError(f"{out}: a diagram is written as .png or .svg, not {out.suffix or 'a file without suffix'}")
    info = read_model(model_path)
    require_xmile(info, "draw the diagram", "sdvag draws XMILE <views> and does not read Vensim's sketch")
    fig = render(info)
    out.parent.mkdir(parents=True, exist_ok=True)
    import matplotlib
    from PIL import Image  # matplotlib's own dependency

    width, height = fig.get_size_inches()
    dpi = min(110.0, 9000 / max(width, height))
    with matplotlib.rc_context({"svg.fonttype": "none"}), atomic_write(out) as tmp:  # SVG text stays text
        if fmt == "svg":
            fig.savefig(tmp, format="svg")
        else:  # a 64-colour palette looks the same and makes the file four times smaller
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png", dpi=dpi)
            Image.open(buffer).convert("RGB").quantize(64).save(tmp, format="png", optimize=True)
    return out
