"""Files of a loop analysis: scores over time, the loop list, dominance, and the dominance plot.

The plot draws what Stella's loop dominance view draws: each loop's relative score over time,
reinforcing loops above zero and balancing ones below, stacked, with the evolution stages
marked, so one sees which loops drive the behaviour in each stage.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from sdvag.analysis.loops import LoopsResult
from sdvag.analysis.stages import STAGE_VARIABLE, stage_changes, stage_names
from sdvag.files import atomic_write, output_set, slug

PLOTTED = 8  # loops drawn one by one in a panel; the rest are summed as "other loops"
PANELS = 3   # feedback subsystems drawn, those with the most loops first


def _csv(frame, path: Path) -> Path:
    with atomic_write(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.10g")
    return path


def _panel(ax, result: LoopsResult, ids: list[str], time: np.ndarray) -> None:
    colours = plt_colours()
    shown = ids[:PLOTTED]
    series = [(result.label(i), np.nan_to_num(result.scores[i].to_numpy())) for i in shown]
    if ids[PLOTTED:]:
        series.append((f"{len(ids) - PLOTTED} other loops",
                       np.nan_to_num(sum(result.scores[i].to_numpy() for i in ids[PLOTTED:]))))
    up, down = np.zeros_like(time), np.zeros_like(time)
    for k, (label, score) in enumerate(series):
        pos, neg = np.clip(score, 0, None), np.clip(score, None, 0)
        colour = colours[k % len(colours)] if k < PLOTTED else "0.75"
        ax.fill_between(time, up, up + pos, color=colour, alpha=0.85, linewidth=0, label=label, step="mid")
        ax.fill_between(time, down, down + neg, color=colour, alpha=0.85, linewidth=0, step="mid")
        up, down = up + pos, down + neg
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_ylim(-1.05, 1.05)
    ax.set_xlim(time[0], time[-1])
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)


def plt_colours():
    import matplotlib.pyplot as plt
    return plt.get_cmap("tab10").colors


def plot(result: LoopsResult, path: Path) -> Path:
    """Relative loop scores over time, stacked by sign, one panel per feedback subsystem (cycle
    partition) in which loops compete, the largest first, with the stage boundaries marked."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = result.loops.sort_values("importance", ascending=False)
    competing = table[~table["alone"]] if (~table["alone"]).any() else table
    groups = [list(g["id"]) for _, g in competing.groupby(competing["partition"].fillna(-1), sort=False)]
    groups = sorted(groups, key=len, reverse=True)[:PANELS]
    time = result.scores["time"].to_numpy()
    fig, axes = plt.subplots(len(groups), 1, figsize=(9.5, 1.2 + 2.6 * len(groups)), dpi=110,
                             sharex=True, squeeze=False)
    changes = stage_changes(result.run) if STAGE_VARIABLE in result.run else []
    names = stage_names(result.run) if changes else {}
    for k, (ax, ids) in enumerate(zip(axes[:, 0], groups)):
        _panel(ax, result, ids, time)
        for j, (t, stage) in enumerate(changes):
            if j:
                ax.axvline(t, color="black", linestyle="--", linewidth=1)
            if k == 0:
                ax.text(t, 1.02, f" {stage} {names.get(stage, '')}".rstrip(), transform=ax.get_xaxis_transform(),
                        fontsize=8, va="bottom")
        ax.set_ylabel("relative loop score\n(R above 0, B below)", fontsize=8)
    axes[-1, 0].set_xlabel(result.scores["time"].attrs.get("units", "time"))
    fig.suptitle(f"Loop dominance: {result.scenario}")
    fig.tight_layout()
    with atomic_write(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path


def write(result: LoopsResult, out: str | Path) -> list[Path]:
    """loops.csv (scores over time), loop_list.csv, dominance.csv, dominance_by_stage.csv and
    (for a model with feedback loops) loops_SCENARIO.png: folder `out`, replaced whole."""
    out = Path(out)
    scores = result.scores.to_dataframe().reset_index()
    scores.columns = ["time", *(result.label(i) for i in scores.columns[1:])]
    table = result.loops.assign(variables=[" -> ".join(v) for v in result.loops["variables"]])
    dominance = result.dominance.assign(loops=[" ".join(ids) for ids in result.dominance["loops"]])
    with output_set(out) as folder:
        written = [_csv(scores, folder / "loops.csv"), _csv(table, folder / "loop_list.csv"),
                   _csv(dominance, folder / "dominance.csv"),
                   _csv(result.by_stage, folder / "dominance_by_stage.csv")]
        if len(result.loops):  # nothing to plot without a loop
            written.append(plot(result, folder / f"loops_{slug(result.scenario)}.png"))
    return [out / p.name for p in written]
