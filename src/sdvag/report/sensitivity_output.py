"""What a sensitivity analysis leaves behind: results.nc, indices.csv, ranking.txt, fan charts."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from sdvag.analysis.sensitivity import SensitivityResult
from sdvag.files import output_set, slug, write_netcdf


def fan_charts(result: SensitivityResult, out: Path) -> list[Path]:
    """One PNG per output: the median and the 50% and 90% bands over the runs."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bands, written = result.bands(), []
    time_units = result.data["time"].attrs.get("units", "time")
    count = int(np.isin(result.data["block"].to_numpy(), ["A", "B"]).sum())
    for name in result.spec.outputs:
        q = bands[name]
        fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
        t = q["time"].to_numpy()
        ax.fill_between(t, q.sel(percentile=5), q.sel(percentile=95), color="tab:blue", alpha=0.18,
                        linewidth=0, label="5-95%")
        ax.fill_between(t, q.sel(percentile=25), q.sel(percentile=75), color="tab:blue", alpha=0.38,
                        linewidth=0, label="25-75%")
        ax.plot(t, q.sel(percentile=50), color="tab:blue", linewidth=1.8, label="median")
        ax.set_title(f"{name}: {count} runs of {result.spec.scenario.name} (Monte Carlo)")
        ax.set_xlabel(time_units)
        ax.set_ylabel(result.data[name].attrs.get("units", ""))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
        fig.tight_layout()
        target = out / f"fan_{slug(name)}.png"
        fig.savefig(target, format="png")
        plt.close(fig)
        written.append(target)
    return written


def write(result: SensitivityResult, out: str | Path) -> list[Path]:
    """results.nc, indices.csv, ranking.txt and a fan chart per output: folder `out`, replaced whole."""
    out = Path(out)
    with output_set(out) as folder:
        write_netcdf(result.data, folder / "results.nc")
        if "first_order" in result.data:
            names = [k for k in result.data.data_vars if k.startswith(("first_order", "total_order"))]
            frame = result.data[names].to_dataframe().reset_index()
            frame.to_csv(folder / "indices.csv", index=False, float_format="%.6g")
        (folder / "ranking.txt").write_text(result.summary() + "\n", encoding="utf-8")
        fan_charts(result, folder)
        names = sorted(p.name for p in folder.iterdir())
    return [out / name for name in names]
