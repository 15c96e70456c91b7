"""What a calibration leaves behind: a calibrated scenario file and a plot of model against data.

The scenario is self-contained (the starting scenario's settings written out, not `extends`),
so editing the starting scenario later cannot silently change a calibrated result. Its
[calibration] table records how it was fitted and how well; other tools read the targets from
[[calibration.targets]] (series, variable, factor: model units to series units), the projection
band from [[calibration.projection]] (series, year, timing, p05, p50, p95, in the series' own
timing and unit) and, after an out-of-sample check, [[calibration.holdout]]. Both files are
rendered in memory and then written together (`write_files`), so an interrupted run leaves both
or neither.
"""
from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np

from sdvag.analysis.calibration import STATUS_MARKERS
from sdvag.analysis.fitstats import STATISTICS
from sdvag.files import atomic_write, output_set
from sdvag.report.scenario_file import relative_to, scenario_lines, toml_table

LOG_SPAN = 100   # plot a series on a log scale when it spans more than this factor


def scenario_toml(result, folder: Path) -> str:
    """The calibrated scenario as TOML text, with paths relative to `folder`."""
    spec, sc = result.spec, result.scenario
    rel = relative_to(folder)
    how = (f"python -m sdvag calibrate {rel(spec.path)} --method {result.method}"
           + ("" if result.seed is None else f" --seed {result.seed}")
           + ("" if result.holdout_from is None else f" --holdout-from {result.holdout_from:g}")) \
        if spec.path else "sdvag.calibrate"
    lines = [f"# A calibrated scenario, written by sdvag; re-create it with: {how}",
             *scenario_lines(sc, folder, spec.title or f"{sc.title or sc.name} (calibrated)",
                             spec.description or sc.description)]
    record = {
        "spec": rel(spec.path) if spec.path else None, "start": rel(sc.path or sc.model),
        "model_sha256": result.run.attrs["model_sha256"],
        "data": rel(spec.data) if spec.data else "shipped (sdvag/data/series.csv)",
        "method": result.method, "seed": result.seed, "loss": spec.loss, "loss_scale": spec.loss_scale,
        "payoff": result.payoff, "model_runs": result.nruns, "success": result.success,
        "message": result.message, "holdout_from": result.holdout_from, "warnings": result.warnings}
    lines += toml_table("[calibration]", {k: v for k, v in record.items() if v is not None})
    if result.diagnostics:
        d = result.diagnostics
        lines += toml_table("[calibration.mcmc]", {k: d[k] for k in ("walkers", "steps", "burn", "acceptance", "tau_max", "ess_min")})
    for p in result.parameters:
        lines += toml_table("[[calibration.parameters]]", {
            "name": p.name, "value": p.value, "min": p.low, "max": p.high, "start": p.start,
            "std_err": p.std_err, "ci_low": p.ci_low, "ci_high": p.ci_high})
    for target, stats in zip(spec.targets, result.statistics):
        shown = {k: stats[k] for k in STATISTICS if not (isinstance(stats[k], float) and math.isnan(stats[k]))}
        lines += toml_table("[[calibration.targets]]", {
            **target.record(), "unit": target.unit, "sigma": result.sigma.get(target.series, float("nan")),
            **shown, **({"omitted": stats["omitted"]} if stats.get("omitted") else {})})
    for h in result.holdout:
        lines += toml_table("[[calibration.holdout]]", {k: h[k] for k in ("series", "year", "value", "model", "p05", "p95", "inside")})
    for row in result.projection:
        lines += toml_table("[[calibration.projection]]", {k: row[k] for k in ("series", "year", "timing", "p05", "p50", "p95")})
    return "\n".join(lines) + "\n"


def plot_png(result) -> bytes:
    """One panel per series: the 5-95% projection band and its median in the series' own timing,
    the calibrated run as observed, and the data marked by status (confirmed filled circles,
    derived filled squares, seed open triangles; held-out values outlined in black)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    held = {t.series: t for t in getattr(result, "held", [])}
    targets = list({t.series: t for t in [*result.spec.targets, *held.values()]}.values())
    cols = min(2, len(targets))
    rows = -(-len(targets) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, 3.8 * rows), dpi=110, squeeze=False)
    stats_of = {s["series"]: s for s in result.statistics}
    for ax, target in zip(axes.flat, targets):
        band = [p for p in result.projection if p["series"] == target.series]
        years = np.array([p["year"] for p in band])
        if band:
            ax.fill_between(years, [p["p05"] for p in band], [p["p95"] for p in band], color="C0", alpha=0.2,
                            label="90% projection band")
            ax.plot(years, [p["p50"] for p in band], color="C0", linestyle="--", linewidth=1, label="median")
            ax.plot(years, [p["model"] for p in band], color="C0", linewidth=1.8,
                    label=f"calibrated: {target.variable}" + (f" x {target.factor:g}" if target.factor != 1 else ""))
        fitted = [t for t in result.spec.targets if t.series == target.series]
        for source, edge in [(fitted[0] if fitted else None, None), (held.get(target.series), "black")]:
            if source is None:
                continue
            status = np.asarray(source.status)
            for name, (marker, filled) in STATUS_MARKERS.items():
                pick = status == name
                if pick.any():
                    ax.plot(np.asarray(source.years)[pick], np.asarray(source.values)[pick], marker, ms=7,
                            color="C3", mfc="C3" if filled else "white", mec=edge or "C3", mew=1.5 if edge else 1,
                            linestyle="none", label=f"data ({name}{', held out' if edge else ''})")
        timing = "/".join(dict.fromkeys(p["timing"] for p in band))
        stats = stats_of.get(target.series)
        fit = "held out" if stats is None else (f"MAPE {stats['mape']:.1f}%" + (
            f", R2 {stats['r_squared']:.3f}" if not math.isnan(stats["r_squared"]) else f", n = {stats['n']}"))
        ax.set_title(f"{target.series} ({timing})\n{fit}", fontsize=9)
        ax.set_ylabel(target.unit)
        ax.set_xlabel("year")
        shown = np.asarray([*target.values, *(p["p05"] for p in band)], dtype=float)
        if np.all(shown > 0) and shown.max() > LOG_SPAN * shown.min():
            ax.set_yscale("log")   # a series over orders of magnitude: relative errors visible
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(targets):]:
        ax.set_visible(False)
    extra = "" if result.holdout_from is None else f", fitted on values before {result.holdout_from:g}"
    fig.suptitle(f"{result.spec.name}: {result.method} calibration and projection{extra}", fontsize=10)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def write_all(files: dict[Path, bytes]) -> list[Path]:
    """Every file of a calibration's output, written only once all are rendered."""
    for path, content in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path) as tmp:
            tmp.write_bytes(content)
    return list(files)


def write_files(result, scenario_path: str | Path, plot_path: str | Path) -> list[Path]:
    """The calibrated scenario at `scenario_path` and its fit plot at `plot_path`."""
    scenario_path, plot_path = Path(scenario_path), Path(plot_path)
    return write_all({scenario_path: scenario_toml(result, scenario_path.parent).encode("utf-8"),
                      plot_path: plot_png(result)})


def write(result, out: str | Path) -> list[Path]:
    """NAME.toml (the calibrated scenario), NAME_report.txt (the fit's report) and NAME_fit.png
    (model against data): folder `out`, replaced whole."""
    out, name = Path(out), result.spec.name
    files = {f"{name}.toml": scenario_toml(result, out).encode("utf-8"),
             f"{name}_report.txt": (result.summary() + "\n").encode("utf-8"),
             f"{name}_fit.png": plot_png(result)}  # rendered first: nothing is written if that fails
    with output_set(out) as folder:
        for file, content in files.items():
            (folder / file).write_bytes(content)
    return [out / file for file in files]
