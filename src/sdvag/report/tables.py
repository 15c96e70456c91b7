"""Results for people and for other tools: summary tables, CSV and NetCDF files, PNG plots.

A run's files are written as a set (sdvag.files.output_set): an interrupted run leaves the
previous set whole, never a half-written file or a mix of two runs.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from sdvag.files import atomic_write, output_set, slug, write_netcdf
from sdvag.formatting import format_number, text_table
from sdvag.simulation.simulate import outputs_of
from sdvag.analysis.stages import STAGE_VARIABLE, stage_changes


def _runs(ds: xr.Dataset):
    """(label, one-run Dataset) for a run or for each scenario of a comparison."""
    if "scenario" in ds.dims:
        for name in ds["scenario"].to_numpy():
            yield str(name), ds.sel(scenario=name).dropna("time", how="all")
    else:
        yield ds.attrs.get("scenario", "run"), ds


def report_years(times: np.ndarray, count: int = 5) -> list[float]:
    """A few evenly spread save times, start and end included."""
    if times.size <= count:
        return [float(t) for t in times]
    picks = np.linspace(0, times.size - 1, count).round().astype(int)
    return [float(times[i]) for i in sorted(set(picks))]


def summary(ds: xr.Dataset) -> str:
    """Key outputs at a few years (a row per output, or per scenario and output), then stages."""
    years = report_years(ds["time"].to_numpy())
    header = ["output" if "scenario" not in ds.dims else "output / scenario",
              *[f"{y:g}" for y in years]]
    rows = []
    for name in outputs_of(ds):
        units = ds[name].attrs.get("units", "")
        label = f"{name} ({units})" if units else name
        for run_name, run in _runs(ds):
            values = run[name].sel(time=years, method="nearest").to_numpy()
            first = label if "scenario" not in ds.dims else f"{label} / {run_name}"
            rows.append([first, *(format_number(v) for v in values)])
    parts = [text_table(header, rows)] if rows else []
    if STAGE_VARIABLE in ds:
        for run_name, run in _runs(ds):
            changes = stage_changes(run)
            text = ", ".join(f"stage {s} from {t:g}" for t, s in changes)
            parts.append(f"{STAGE_VARIABLE} [{run_name}]: {text}")
    return "\n".join(parts)


def problems(ds: xr.Dataset) -> list[str]:
    """Warnings a modeller must see: variables that become NaN or infinite."""
    found = []
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


def plot_outputs(ds: xr.Dataset, out: Path) -> list[Path]:
    """One PNG per key output; a line per scenario when runs are compared."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    time_units = ds["time"].attrs.get("units", "time")
    for name in outputs_of(ds):
        fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
        for run_name, run in _runs(ds):
            ax.plot(run["time"], run[name], label=run_name, linewidth=1.8)
        units = ds[name].attrs.get("units", "")
        ax.set_title(name)
        ax.set_xlabel(time_units)
        ax.set_ylabel(units)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        target = out / f"{slug(name)}.png"
        with atomic_write(target) as tmp:
            fig.savefig(tmp, format="png")
        plt.close(fig)
        written.append(target)
    return written


def write_all(ds: xr.Dataset, out: str | Path) -> list[Path]:
    """results.nc, results.csv and the PNG plots of the key outputs: folder `out`, replaced whole."""
    out = Path(out)
    with output_set(out) as folder:
        write_netcdf(ds, folder / "results.nc")
        write_csv(ds, folder / "results.csv")
        plots = plot_outputs(ds, folder)
    return [out / "results.nc", out / "results.csv", *(out / p.name for p in plots)]

