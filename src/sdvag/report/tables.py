"""Results for people and for other tools: summary tables, CSV and NetCDF files, plots (PNG for
the screen, PDF and SVG for papers).

A run's files are written as a set (sdvag.files.output_set): an interrupted run leaves the
previous set whole, never a half-written file or a mix of two runs.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import xarray as xr

from sdvag.errors import SdvagError, suggest
from sdvag.files import atomic_write, output_set, slug, write_netcdf
from sdvag.formatting import format_number, text_table
from sdvag.simulation.simulate import outputs_of
from sdvag.analysis.stages import STAGE_VARIABLE, stage_changes, stage_label, stage_names

PLOT_FORMATS = ("png", "pdf", "svg")
# Line styles in turn, so that runs that coincide stay distinguishable: dashes and markers differ.
LINE_STYLES = (("-", None), ("--", "o"), ("-.", "s"), (":", "^"), ((0, (5, 1, 1, 1)), "D"),
               ((0, (1, 1)), "v"), ((0, (8, 2)), "x"), ((0, (3, 1, 1, 1, 1, 1)), "+"))


def _runs(ds: xr.Dataset):
    """(label, one-run Dataset) for a run or for each scenario of a comparison; a run of a
    comparison keeps only its own model's variables."""
    if "scenario" in ds.dims:
        own = json.loads(ds.attrs.get("scenario_variables", "{}"))
        for name in ds["scenario"].to_numpy():
            run = ds.sel(scenario=name)
            if str(name) in own:
                run = run[[v for v in own[str(name)] if v in run]]
            yield str(name), run.dropna("time", how="all")
    else:
        yield ds.attrs.get("scenario", "run"), ds


def choose_outputs(ds: xr.Dataset, names: list[str] | None) -> xr.Dataset:
    """The Dataset with `names` as its key outputs (reported and plotted) instead of the
    scenario's; names are matched as in the model, ignoring case and spaces versus underscores."""
    if not names:
        return ds
    known = {_key(v): v for v in ds.data_vars}
    known.update({_key(v.partition("[")[0]): v.partition("[")[0] for v in map(str, ds.data_vars) if "[" in v})
    chosen = []
    for name in names:
        if _key(name) not in known:
            raise SdvagError(f"--outputs: unknown variable {name!r}{suggest(name, list(ds.data_vars))}")
        chosen.append(known[_key(name)])
    return ds.assign_attrs(outputs=json.dumps(chosen))


def _key(name: str) -> str:
    return " ".join(name.replace("_", " ").lower().split())


def report_years(times: np.ndarray, count: int = 5) -> list[float]:
    """A few evenly spread save times, start and end included."""
    if times.size <= count:
        return [float(t) for t in times]
    picks = np.linspace(0, times.size - 1, count).round().astype(int)
    return [float(times[i]) for i in sorted(set(picks))]


def summary(ds: xr.Dataset, years: list[float] | None = None) -> str:
    """Key outputs at a few years (`years`, or five spread over the run; a row per output, or per
    scenario and output), then the stage changes with the stages' names."""
    times = ds["time"].to_numpy()
    if years:
        outside = [y for y in years if not times.min() <= y <= times.max()]
        if outside:
            raise SdvagError(f"--years: {outside[0]:g} is outside the run ({times.min():g} to {times.max():g})")
    years = list(years) if years else report_years(times)
    header = ["output" if "scenario" not in ds.dims else "output / scenario",
              *[f"{y:g}" for y in years]]
    rows = []
    for name in outputs_of(ds):
        units = ds[name].attrs.get("units", "")
        label = f"{name} ({units})" if units else name
        for run_name, run in _runs(ds):
            if name not in run:
                continue  # a comparison of different models: this run's model has no such variable
            values = run[name].sel(time=years, method="nearest").to_numpy()
            t = run["time"].to_numpy()
            inside = [t.min() - 1e-9 <= y <= t.max() + 1e-9 for y in years]  # a shorter run of a comparison
            first = label if "scenario" not in ds.dims else f"{label} / {run_name}"
            rows.append([first, *(format_number(v) if ok else "-" for v, ok in zip(values, inside))])
    parts = [text_table(header, rows)] if rows else []
    if STAGE_VARIABLE in ds:
        names = stage_names(ds)
        for run_name, run in _runs(ds):
            if STAGE_VARIABLE not in run:
                continue
            changes = stage_changes(run)
            text = ", ".join(f"{stage_label(s, names)} from {t:g}" for t, s in changes)
            parts.append(f"{STAGE_VARIABLE} [{run_name}]: {text}")
    return "\n".join(parts)


def problems(ds: xr.Dataset) -> list[str]:
    """Warnings a modeller must see: values allowed outside their range, variables that become
    NaN or infinite."""
    found = [f"warning: {w}" for w in json.loads(ds.attrs.get("warnings", "[]"))]
    for run_name, run in _runs(ds):
        for name, da in run.data_vars.items():
            bad = ~np.isfinite(da.to_numpy())
            if bad.any():
                t = float(run["time"].to_numpy()[np.argmax(bad)])
                found.append(f"warning: {name} [{run_name}] is not finite from time {t:g}")
    return found


def write_csv(ds: xr.Dataset, path: Path) -> None:
    """`time` first, then one column per model variable named as in the model (and `scenario`
    second when several runs are compared)."""
    frame = ds.to_dataframe().reset_index()
    if "scenario" in frame.columns:
        frame = frame.dropna(subset=[c for c in frame.columns if c not in ("time", "scenario")], how="all")
        frame = frame[["time", "scenario", *[c for c in frame.columns if c not in ("time", "scenario")]]]
    with atomic_write(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.10g")


def plot_outputs(ds: xr.Dataset, out: Path, formats=("png",)) -> list[Path]:
    """One plot per key output in each of `formats` (png, pdf, svg)."""
    plt = _pyplot()
    formats = plot_formats(formats)
    written = []
    for name in outputs_of(ds):
        fig = output_figure(ds, name)
        for fmt in formats:
            target = out / f"{slug(name)}.{fmt}"
            with atomic_write(target) as tmp:
                fig.savefig(tmp, format=fmt)
            written.append(target)
        plt.close(fig)
    return written


def output_figure(ds: xr.Dataset, name: str):
    """The plot of one output over time: a line per scenario when runs are compared, each in its
    own dash style and marker so that coinciding runs stay visible; the stage indicator as
    steps, its ticks labelled with the stages' names."""
    fig, ax = _pyplot().subplots(figsize=(7, 4.2), dpi=110)
    runs = [(label, run) for label, run in _runs(ds) if name in run]
    for i, (run_name, run) in enumerate(runs):
        dash, marker = LINE_STYLES[i % len(LINE_STYLES)] if len(runs) > 1 else LINE_STYLES[0]
        points = run["time"].size
        style = dict(label=run_name, linewidth=1.8, linestyle=dash, marker=marker, markersize=4,
                     markevery=(i % 5 * max(points // 50, 1), max(points // 10, 1)))
        if name == STAGE_VARIABLE:
            ax.step(run["time"], run[name], where="post", **style)
        else:
            ax.plot(run["time"], run[name], **style)
    if name == STAGE_VARIABLE:
        _stage_axis(ax, ds)
    ax.set_title(name)
    ax.set_xlabel(ds["time"].attrs.get("units", "time"))
    ax.set_ylabel("" if name == STAGE_VARIABLE else ds[name].attrs.get("units", ""))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _pyplot():
    """matplotlib.pyplot drawing to files, never to a window."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_formats(formats) -> tuple[str, ...]:
    """The plot formats asked for, checked against PLOT_FORMATS."""
    formats = tuple(f.lower().lstrip(".") for f in formats)
    for fmt in formats:
        if fmt not in PLOT_FORMATS:
            raise SdvagError(f"--format {fmt}: expected one of {', '.join(PLOT_FORMATS)}")
    return formats


def _stage_axis(ax, ds: xr.Dataset) -> None:
    """Ticks at the stage codes only, labelled with the stages' names (`stage N` if unnamed)."""
    values = ds[STAGE_VARIABLE].to_numpy()
    names = stage_names(ds)
    codes = sorted({int(v) for v in np.rint(values[np.isfinite(values)])} | set(names))
    if codes:
        ax.set_yticks(codes)
        ax.set_yticklabels([names.get(c, f"stage {c}") for c in codes])
        ax.set_ylim(min(codes) - 0.5, max(codes) + 0.5)


def write_all(ds: xr.Dataset, out: str | Path, formats=("png",)) -> list[Path]:
    """results.nc, results.csv and the plots of the key outputs (in each of `formats`): folder
    `out`, replaced whole."""
    out = Path(out)
    formats = plot_formats(formats)
    with output_set(out) as folder:
        write_netcdf(ds, folder / "results.nc")
        write_csv(ds, folder / "results.csv")
        plots = plot_outputs(ds, folder, formats)
    return [out / "results.nc", out / "results.csv", *(out / p.name for p in plots)]
