"""What a calibration leaves behind: a calibrated scenario file and a plot of model against data.

The scenario is self-contained (the starting scenario's settings written out, not `extends`),
so editing the starting scenario later cannot silently change a calibrated result. Its
[calibration] table records how it was fitted and how well; other tools read the targets from
[[calibration.targets]] (series, variable, factor: model units to series units).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from sdvag.analysis.calibration import STATUS_MARKERS
from sdvag.analysis.fitstats import STATISTICS
from sdvag.files import atomic_write
from sdvag.report.scenario_file import relative_to, scenario_lines, toml_table


def scenario_toml(result, folder: Path) -> str:
    """The calibrated scenario as TOML text, with paths relative to `folder`."""
    spec, sc = result.spec, result.scenario
    rel = relative_to(folder)
    how = (f"python -m sdvag calibrate {rel(spec.path)} --method {result.method}"
           + ("" if result.seed is None else f" --seed {result.seed}")) if spec.path else "sdvag.calibrate"
    lines = [f"# A calibrated scenario, written by sdvag; re-create it with: {how}",
             *scenario_lines(sc, folder, spec.title or f"{sc.title or sc.name} (calibrated)",
                             spec.description or sc.description)]
    record = {
        "spec": rel(spec.path) if spec.path else None, "start": rel(sc.path or sc.model),
        "model_sha256": result.run.attrs["model_sha256"],
        "data": rel(spec.data) if spec.data else "shipped (sdvag/data/series.csv)",
        "method": result.method, "seed": result.seed, "loss": spec.loss, "loss_scale": spec.loss_scale,
        "payoff": result.payoff, "model_runs": result.nruns, "success": result.success,
        "message": result.message, "warnings": result.warnings}
    lines += toml_table("[calibration]", {k: v for k, v in record.items() if v is not None})
    for p in result.parameters:
        lines += toml_table("[[calibration.parameters]]", {
            "name": p.name, "value": p.value, "min": p.low, "max": p.high, "start": p.start,
            "std_err": p.std_err, "ci_low": p.ci_low, "ci_high": p.ci_high})
    for target, stats in zip(spec.targets, result.statistics):
        lines += toml_table("[[calibration.targets]]", {
            **target.record(), "unit": target.unit, **{k: stats[k] for k in STATISTICS}})
    return "\n".join(lines) + "\n"


def plot_fit(result, path: Path) -> Path:
    """One panel per target: the calibrated run (x factor, whole horizon) and the data points,
    marked by status (confirmed filled circles, derived filled squares, seed open triangles)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    targets = result.spec.targets
    cols = min(2, len(targets))
    rows = -(-len(targets) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, 3.6 * rows), dpi=110, squeeze=False)
    time = result.run["time"].to_numpy()
    for ax, target, stats in zip(axes.flat, targets, result.statistics):
        ax.plot(time, result.run[target.variable].to_numpy() * target.factor, color="C0",
                linewidth=1.8, label=f"model: {target.variable}" + (f" x {target.factor:g}" if target.factor != 1 else ""))
        status = np.asarray(target.status)
        for name, (marker, filled) in STATUS_MARKERS.items():
            pick = status == name
            if pick.any():
                ax.plot(np.asarray(target.years)[pick], np.asarray(target.values)[pick], marker, ms=7,
                        color="C3", mfc="C3" if filled else "white", linestyle="none", label=f"data ({name})")
        ax.set_title(f"{target.series}\nR2 {stats['r_squared']:.3f}, MAPE {stats['mape']:.1f}%", fontsize=9)
        ax.set_ylabel(target.unit)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(targets):]:
        ax.set_visible(False)
    fig.suptitle(f"{result.spec.name}: calibrated run and observed series", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path


def write_scenario(result, path: str | Path) -> Path:
    """The calibrated scenario, self-contained, at `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as tmp:
        tmp.write_text(scenario_toml(result, path.parent), encoding="utf-8")
    return path


def write(result, out: str | Path) -> list[Path]:
    """NAME.toml (the calibrated scenario) and NAME_fit.png (model against data) in `out`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    return [write_scenario(result, out / f"{result.spec.name}.toml"),
            plot_fit(result, out / f"{result.spec.name}_fit.png")]
