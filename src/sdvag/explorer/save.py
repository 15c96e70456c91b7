"""Saving what the explorer shows: the settings as a scenario file that `python -m sdvag run`
runs as it is, the runs as CSV and NetCDF, the plots as PNG and PDF; all of them or none."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from sdvag.errors import SdvagError
from sdvag.explorer.session import Session
from sdvag.files import slug, write_netcdf
from sdvag.report.scenario_file import scenario_lines
from sdvag.report.tables import write_csv
from sdvag.simulation.simulate import side_by_side


def scenario_text(session: Session, name: str, folder: Path) -> str:
    """The current settings as a self-contained scenario file to be saved in `folder`."""
    base = session.base
    changed = ", ".join(f"{k} = {v:g}" for k, v in session.values.items()) or "no constant changed"
    lines = [f"# Saved from the sdvag explorer, starting from {base.name}",
             *scenario_lines(session.scenario(), folder, f"{name}: {base.title or base.name} (explorer)",
                             f"{base.title or base.name} with {changed} (set in the explorer)."
                             f" {base.description}".rstrip())]
    return "\n".join(lines) + "\n"


def runs(session: Session, name: str):
    """The base and current runs side by side (dimension `scenario`)."""
    return side_by_side([session.base_run, session.current_run], [session.base.name, name])


def figure(session: Session, name: str):
    """The key outputs, base beside current, with the Monte Carlo band and the stage periods."""
    from matplotlib.figure import Figure

    outputs = session.plotted()
    stages = session.stages()
    rows = len(outputs) + (1 if stages else 0)
    fig = Figure(figsize=(8, 2.1 * rows + 0.4), dpi=110, layout="constrained")
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
    band = session.band_data
    for ax, output in zip(axes, outputs):
        if band is not None and output in band:
            q = band[output]
            ax.fill_between(q["time"], q.sel(percentile=5), q.sel(percentile=95), color="#9ecae1", alpha=0.5, label="5-95%")
            ax.fill_between(q["time"], q.sel(percentile=25), q.sel(percentile=75), color="#4292c6", alpha=0.5, label="25-75%")
        ax.plot(session.base_run["time"], session.base_run[output], color="#888888", linestyle="--",
                label=session.base.name)
        ax.plot(session.current_run["time"], session.current_run[output], color="#d6604d", label=name)
        ax.set_title(output, fontsize=10, loc="left")
        ax.set_ylabel(session.current_run[output].attrs.get("units", ""))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    if stages:
        ax = axes[-1]
        for i, (start, end, code, label) in enumerate(stages):
            ax.axvspan(start, end, color=f"C{code % 10}", alpha=0.35)
            ax.text((start + end) / 2, 0.5, label, ha="center", va="center", fontsize=8, wrap=True)
        ax.set_yticks([])
        ax.set_title("Evolution stages", fontsize=10, loc="left")
    axes[-1].set_xlabel(session.current_run["time"].attrs.get("units", "time"))
    return fig


def save(session: Session, folder: str | Path, name: str) -> list[Path]:
    """NAME.toml, NAME.csv, NAME.nc, NAME.png and NAME.pdf in `folder`, written together."""
    if not name.strip() or slug(name) != name.strip():
        raise SdvagError(f"scenario name {name!r}: use lower-case letters, digits and underscores "
                         f"(e.g. {slug(name)!r})")
    folder = Path(folder).expanduser().resolve()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".sdvag-save-", dir=folder))
    except OSError as exc:
        raise SdvagError(f"{folder}: cannot write there ({exc.strerror or exc})") from None
    try:
        (tmp / f"{name}.toml").write_text(scenario_text(session, name, folder), encoding="utf-8")
        both = runs(session, name)
        write_csv(both, tmp / f"{name}.csv")
        write_netcdf(both, tmp / f"{name}.nc")
        fig = figure(session, name)
        for suffix in ("png", "pdf"):
            fig.savefig(tmp / f"{name}.{suffix}", format=suffix)
        written = []
        for suffix in ("toml", "csv", "nc", "png", "pdf"):
            os.replace(tmp / f"{name}.{suffix}", folder / f"{name}.{suffix}")
            written.append(folder / f"{name}.{suffix}")
        return written
    except OSError as exc:
        raise SdvagError(f"{folder}: cannot write there ({exc.strerror or exc})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
