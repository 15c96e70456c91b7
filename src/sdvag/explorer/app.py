"""The explorer's page (Panel, Bokeh plots): sliders by sector, scenario picker, live runs
beside the base run, stage band, Monte Carlo band, saving; served locally or shown in Jupyter.

Every callback goes through `_guarded`: a user error becomes a message on the page and the last
good state stays; an unexpected error is logged on the server (never shown as a traceback) and
the server keeps serving.
"""
from __future__ import annotations

import html
import logging
import socket
import time
from pathlib import Path

import panel as pn
from bokeh.layouts import column
from bokeh.models import ColumnDataSource, LabelSet, Range1d
from bokeh.plotting import figure

from sdvag.errors import SdvagError
from sdvag.explorer.save import save
from sdvag.explorer.session import BAND_RUNS, Session, scenario_choices
from sdvag.files import slug
from sdvag.simulation.scenario import load_scenario

LOG = logging.getLogger("sdvag.explorer")
STAGE_COLOURS = ("#c6dbef", "#fdd0a2", "#c7e9c0", "#dadaeb", "#fcbba1", "#d9d9d9")
BAND_NOTE = (f"Monte Carlo band: {BAND_RUNS} runs of a Latin-hypercube sample, each marked constant "
             f"uniform over its range, around the current settings; a small PySD ensemble run in "
             f"this process (sdvag's vectorised engine is not available here).")


class Explorer:
    """One page: its widgets and its Session. Built afresh for every browser session."""

    def __init__(self, targets=(), folder: str | Path = "explorer_saved"):
        self.choices = scenario_choices(targets)
        first = str(Path(targets[0]).resolve()) if targets else self.choices.get(
            "tic_baseline", next(iter(self.choices.values()), None))
        if first is None:
            raise SdvagError("explore: no scenario given and no shipped scenarios found")
        self.session = Session(first)
        self.runs = 0
        self.last_redraw = 0.0
        self.message = pn.pane.Alert("", alert_type="light", visible=False, css_classes=["sdvag-message"])
        self.picker = pn.widgets.Select(name="Scenario", options=self.choices, value=first,
                                        css_classes=["sdvag-scenario"])
        self.path_input = pn.widgets.TextInput(name="Or open a scenario or model file",
                                               placeholder="path/to/scenario.toml")
        self.typed = pn.widgets.TextInput(name="Set a constant exactly (NAME = VALUE)",
                                          placeholder="Land Supply = 800", css_classes=["sdvag-typed"])
        self.uncertain = pn.widgets.MultiChoice(name="Uncertain constants", options=[])
        self.band_toggle = pn.widgets.Checkbox(name="Monte Carlo band (5-95%, 25-75%)",
                                               css_classes=["sdvag-band"])
        self.loops_toggle = pn.widgets.Checkbox(name="Loop dominance of the current run (Simlin)",
                                                css_classes=["sdvag-loops"])
        self.loop_table = pn.pane.HTML(sizing_mode="stretch_width", visible=False)
        self.folder = pn.widgets.TextInput(name="Save in folder", value=str(Path(folder).resolve()),
                                           css_classes=["sdvag-folder"])
        self.name = pn.widgets.TextInput(name="Saved scenario name", css_classes=["sdvag-name"])
        self.save_button = pn.widgets.Button(name="Save scenario, runs and plots", button_type="primary",
                                             css_classes=["sdvag-save"])
        self.sliders = pn.Column()
        self.plots = pn.pane.Bokeh(sizing_mode="stretch_width")
        self.readout = pn.pane.HTML(sizing_mode="stretch_width")
        self.picker.param.watch(lambda e: self._guarded(self._pick, e.new, e.old), "value")
        self.path_input.param.watch(lambda e: e.new and self._guarded(self._pick, e.new, None), "value")
        self.typed.param.watch(lambda e: e.new and self._guarded(self._type, e.new), "value")
        self.uncertain.param.watch(lambda e: self._guarded(self._band), "value")
        self.band_toggle.param.watch(lambda e: self._guarded(self._band), "value")
        self.loops_toggle.param.watch(lambda e: self._guarded(self._show_loops), "value")
        self.save_button.on_click(lambda e: self._guarded(self._save))
        self._rebuild()

    # -- callbacks -------------------------------------------------------------------------
    def _guarded(self, action, *args) -> None:
        try:
            action(*args)
        except SdvagError as exc:
            self._say(str(exc), "danger")
        except Exception as exc:  # never a traceback on the page; the server keeps serving
            LOG.exception("explorer callback failed")
            self._say(f"internal error ({type(exc).__name__}); the last good state is kept", "danger")

    def _say(self, text: str, kind: str = "success") -> None:
        self.message.object = f'<div id="sdvag-message">{html.escape(text).replace(chr(10), "<br>")}</div>'
        self.message.alert_type = kind
        self.message.visible = True

    def _pick(self, target: str, previous: str | None) -> None:
        try:
            self.session.load(target)
        except SdvagError:
            if previous is not None:  # show the scenario still loaded
                self.picker.param.update(value=previous)
            raise
        self._rebuild()
        self._say(f"loaded {self.session.base.name}")

    def _type(self, text: str) -> None:
        name, sep, value = text.partition("=")
        if not sep:
            raise SdvagError(f"{text!r}: expected NAME = VALUE")
        found = next((s for s in self.session.slider_names() if s.lower() == name.strip().lower()), name.strip())
        self.typed.value = ""  # ready for the next value, even the same one again
        self.session.set(found, value.strip())
        self._sync_sliders()
        self._redraw()
        self._say(f"{found} = {self.session.values[found]:g}")

    def _move(self, widget, name: str, value: float) -> None:
        try:
            self.session.set(name, value)
        except SdvagError:  # put the slider back where the shown run has it
            widget.value = self.session.scenario().constants.get(name, widget.value)
            raise
        self._redraw()
        self.message.visible = False

    def _band(self) -> None:
        self.session.band(list(self.uncertain.value) if self.band_toggle.value else [])
        self._redraw()

    def _show_loops(self) -> None:
        """The dominant loops by period (the engine extra), when ticked; after every change."""
        self.loop_table.visible = self.loops_toggle.value
        if not self.loops_toggle.value:
            return
        rows = "".join(f"<tr><td>{a:g}</td><td>{b:g}</td><td>{html.escape(p)}</td><td>{html.escape(loops)}</td></tr>"
                       for a, b, loops, p in self.session.loop_dominance())
        self.loop_table.object = ("<b>Dominant loops</b> (Loops That Matter; feedback subsystems of more "
                                  "than one loop)<table><tr><th>from</th><th>to</th><th>polarity</th>"
                                  f"<th>loops</th></tr>{rows}</table>")

    def _save(self) -> None:
        written = save(self.session, self.folder.value, self.name.value.strip())
        self._say("saved " + ", ".join(str(p) for p in written))

    # -- drawing ---------------------------------------------------------------------------
    def _rebuild(self) -> None:
        """Widgets for the loaded scenario: sliders by sector, uncertain-constant choices."""
        s = self.session
        cards = []
        for sector in dict.fromkeys(sl.sector for sl in s.sliders):
            widgets = []
            for sl in (x for x in s.sliders if x.sector == sector):
                w = pn.widgets.FloatSlider(
                    name=f"{sl.name} ({sl.units})" if sl.units else sl.name, start=sl.low, end=sl.high,
                    value=sl.value, step=(sl.high - sl.low) / 100, format="0[.]000",
                    css_classes=["sdvag-slider", f"sdvag-{slug(sl.name)}"], sizing_mode="stretch_width")
                w.param.watch(lambda e, n=sl.name, w=w: self._guarded(self._move, w, n, e.new), "value_throttled")
                widgets.append(pn.Row(w, pn.widgets.TooltipIcon(value=f"{sl.units or 'no units'}. {sl.doc}"),
                                      sizing_mode="stretch_width"))
            cards.append(pn.Card(*widgets, title=sector, sizing_mode="stretch_width"))
        if s.unranged:
            cards.append(pn.pane.Markdown(f"Constants without a `<range>` (set them in a scenario file): "
                                          f"{', '.join(s.unranged)}"))
        self.sliders.objects = cards
        self.uncertain.param.update(options=s.slider_names(), value=list(s.band_names))
        self.name.value = f"{s.base.name}_explored"
        self._plots()
        self._redraw()

    def _sync_sliders(self) -> None:
        for card in self.sliders.objects:
            for w in (row[0] for row in getattr(card, "objects", [])):
                name = next((sl.name for sl in self.session.sliders if f"sdvag-{slug(sl.name)}" in w.css_classes), None)
                if name in self.session.values:
                    w.value = self.session.values[name]

    def _plots(self) -> None:
        """Bokeh figures for the loaded scenario's outputs and stages; `_redraw` then only
        replaces their data, so a slider move sends numbers to the browser, not new figures."""
        s = self.session
        t = s.base_run["time"]
        x_range = Range1d(float(t[0]), float(t[-1]))
        self.sources = {}
        figures = []
        for output in s.plotted():
            fig = figure(height=200, sizing_mode="stretch_width", x_range=x_range, title=output,
                         y_axis_label=s.base_run[output].attrs.get("units", ""),
                         tools="pan,wheel_zoom,box_zoom,reset,hover", toolbar_location="right")
            band = self.sources[f"band:{output}"] = ColumnDataSource({k: [] for k in ("t", "p5", "p25", "p75", "p95")})
            fig.varea("t", "p5", "p95", source=band, color="#9ecae1", alpha=0.5)
            fig.varea("t", "p25", "p75", source=band, color="#4292c6", alpha=0.5)
            first = not figures  # one legend, on the first plot
            fig.line(t.values, s.base_run[output].values, color="#888888", line_dash="dashed", line_width=2,
                     **({"legend_label": f"base: {s.base.name}"} if first else {}))
            self.sources[output] = ColumnDataSource({"t": [], "y": []})
            fig.line("t", "y", source=self.sources[output], color="#d6604d", line_width=2.5,
                     **({"legend_label": "current"} if first else {}))
            if first:
                fig.legend.location = "top_left"
                fig.legend.label_text_font_size = "8pt"
            figures.append(fig)
        if s.stages():
            fig = figure(height=90, sizing_mode="stretch_width", x_range=x_range, y_range=Range1d(0, 1),
                         title="Evolution stages (current run)", tools="", toolbar_location=None)
            fig.yaxis.visible = False
            fig.ygrid.visible = False
            stages = self.sources["stages"] = ColumnDataSource({k: [] for k in ("left", "right", "colour", "label")})
            fig.quad(left="left", right="right", bottom=0, top=1, color="colour", source=stages)
            fig.add_layout(LabelSet(x="left", y=0.35, text="label", source=stages, text_font_size="8pt"))
            fig.xaxis.axis_label = t.attrs.get("units", "time")
            figures.append(fig)
        self.plots.object = column(*figures, sizing_mode="stretch_width")

    def _redraw(self) -> None:
        """The current run, the band and the stages into the figures; the readout of finals."""
        started = time.perf_counter()
        s = self.session
        current, band = s.current_run, s.band_data
        for output in s.plotted():
            self.sources[output].data = {"t": current["time"].values, "y": current[output].values}
            q = band[output] if band is not None and output in band else None
            self.sources[f"band:{output}"].data = {
                "t": [] if q is None else q["time"].values,
                **{f"p{p}": [] if q is None else q.sel(percentile=p).values for p in (5, 25, 75, 95)}}
        if "stages" in self.sources:
            stages = s.stages()
            self.sources["stages"].data = {
                "left": [a for a, _, _, _ in stages], "right": [b for _, b, _, _ in stages],
                "colour": [STAGE_COLOURS[code % len(STAGE_COLOURS)] for _, _, code, _ in stages],
                "label": [f" {code}: {label}" for _, _, code, label in stages]}
        self.runs += 1
        rows = "".join(
            f'<tr data-name="{html.escape(o)}" data-value="{v!r}"><td>{html.escape(o)}</td>'
            f'<td style="text-align:right">{v:,.4g}</td><td>{html.escape(current[o].attrs.get("units", ""))}</td></tr>'
            for o, v in s.finals().items())
        changed = ", ".join(f"{k} = {v:g}" for k, v in s.values.items()) or "none"
        self.readout.object = (
            f'<div id="sdvag-finals" data-run="{self.runs}" data-scenario="{html.escape(s.base.name)}">'
            f"<b>Final values, {float(current['time'][-1]):g}</b> ({html.escape(s.base.name)}; "
            f"changed: {html.escape(changed)})<table>{rows}</table></div>")
        self.last_redraw = time.perf_counter() - started
        self._show_loops()

    def view(self):
        sidebar = pn.Column(
            "## sdvag explorer", self.picker, self.path_input, self.typed, self.sliders,
            pn.pane.Markdown("### Uncertainty"), self.uncertain, self.band_toggle,
            pn.pane.Markdown(BAND_NOTE + " Light blue: 5-95% of the runs; dark blue: 25-75%.",
                             styles={"font-size": "85%"}),
            self.loops_toggle, pn.pane.Markdown("### Save"), self.folder, self.name, self.save_button, width=380)
        return pn.Row(sidebar, pn.Column(self.message, self.readout, self.plots, self.loop_table, sizing_mode="stretch_width"),
                      sizing_mode="stretch_width")


def explore(*targets, folder: str | Path = "explorer_saved"):
    """The explorer as a Panel object: display it in a Jupyter notebook (or `.servable()` it)."""
    pn.extension()
    return Explorer(targets, folder).view()


def page(targets, folder):
    """A new page for a browser session, or a one-line message if it cannot be built."""
    try:
        return Explorer(targets, folder).view()
    except SdvagError as exc:
        return pn.pane.Alert(html.escape(str(exc)), alert_type="danger")
    except Exception as exc:  # never a traceback on the page
        LOG.exception("explorer page failed")
        return pn.pane.Alert(f"internal error ({type(exc).__name__}); see the server's log", alert_type="danger")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(targets=(), port: int | None = None, folder: str | Path = "explorer_saved",
          address: str = "127.0.0.1", announce=print) -> None:
    """Serve the explorer on `address:port` (a free port by default) until interrupted."""
    for target in targets:  # refuse a bad file here, in one line, before serving anything
        load_scenario(target)
    port = port or free_port()
    try:
        server = pn.serve({"/": lambda: page(targets, folder)}, port=port, address=address,
                          websocket_origin=[f"{address}:{port}", f"localhost:{port}"], show=False,
                          start=False, title="sdvag explorer")
    except OSError as exc:
        raise SdvagError(f"cannot serve on {address}:{port}: {exc.strerror or exc}") from None
    announce(f"sdvag explorer at http://{address}:{port}/ (Ctrl-C to stop)")
    server.start()
    server.io_loop.start()
