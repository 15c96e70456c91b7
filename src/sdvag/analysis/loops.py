"""Which feedback loops drive a scenario, and when: Loops That Matter, run by Simlin.

The scenario is baked into a copy of its model file (checked to run exactly as the scenario),
Simlin runs the copy with its Loops That Matter instrumentation (Schoenberg, Davidsen and
Eberlein 2020) and gives every feedback loop, its polarity and its relative loop score over
time: the loop's signed share of the change in its feedback subsystem (cycle partition), from
-1 to 1. sdvag names the loops (the model's named loops, generated names for the others),
checks that Simlin simulated the same run as PySD, and splits dominance by evolution stage.
"""
from __future__ import annotations

import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from sdvag.analysis.checks import ENGINE_TOLERANCE, trajectory_differences
from sdvag.analysis.scenario_copy import ScenarioCopy, scenario_copy
from sdvag.analysis.stages import STAGE_VARIABLE, stage_names
from sdvag.errors import SdvagError
from sdvag.formatting import text_table
from sdvag.model.named_loops import NamedLoop, read_named_loops
from sdvag.model.rewrite import NotEditable
from sdvag.model.xmile import VENSIM_SUFFIX, ModelInfo, canonical, read_model
from sdvag.simulation.scenario import Scenario, load_scenario, time_settings
from sdvag.simulation.simulate import Simulator

POLARITY = {"REINFORCING": "R", "MOSTLY_REINFORCING": "R", "BALANCING": "B", "MOSTLY_BALANCING": "B",
            "UNDETERMINED": "U"}


LOOP_COLUMNS = ["id", "name", "named", "polarity", "variables", "partition", "importance", "alone"]
DOMINANCE_COLUMNS = ["start", "end", "partition", "loops", "polarity"]
STAGE_COLUMNS = ["stage", "stage_name", "id", "name", "share"]


class LoopAnalysisError(SdvagError):
    """Simlin cannot analyse the scenario (exit status 3, like a model sdvag cannot simulate)."""

    exit_status = 3


@dataclass
class LoopsResult:
    scenario: str
    loops: pd.DataFrame        # id, name, named, polarity, variables, partition, importance, alone
    scores: xr.Dataset         # relative loop score of each loop (by id) over time
    dominance: pd.DataFrame    # start, end, partition, loops (ids), polarity of their scores
    by_stage: pd.DataFrame     # stage, stage_name, id, name, share of the stage's time dominated
    #                            (loops alone in their partition left out: they dominate by construction)
    run: xr.Dataset            # the scenario's run by sdvag
    warnings: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    def label(self, loop_id: str) -> str:
        row = self.loops.set_index("id").loc[loop_id]
        return f"{loop_id} {row['name']}"

    def dominant_named(self) -> list[tuple[int, str, str, float]]:
        """(stage, stage name, named loop, share) of the named loop dominating each stage longest."""
        named = set(self.loops.loc[self.loops["named"], "id"])
        rows = self.by_stage[self.by_stage["id"].isin(named) & (self.by_stage["share"] > 0)]
        found = []
        for stage, group in rows.groupby("stage", sort=True):
            top = group.sort_values("share", ascending=False).iloc[0]
            found.append((int(stage), top["stage_name"], self.label(top["id"]), float(top["share"])))
        return found

    def summary(self) -> str:
        lines = [f"{len(self.loops)} feedback loops in {self.scenario}"]
        if self.loops.empty:
            return lines[0]
        shown = self.loops.sort_values(["named", "importance"], ascending=[False, False]).head(20)
        lines.append(text_table(["loop", "polarity", "mean |score|", "variables"], [
            [f"{r.id} {r.name}", r.polarity, f"{r.importance:.2f}", " -> ".join(r.variables)]
            for r in shown.itertuples()]))
        if len(self.loops) > len(shown):
            lines.append(f"({len(self.loops) - len(shown)} more loops in loops.csv)")
        alone = set(self.loops.loc[self.loops["alone"], "id"])
        competing = self.dominance[[not set(ids) <= alone for ids in self.dominance["loops"]]]
        if len(competing) or not len(self.dominance):
            lines.append("Dominant loops by period (among loops sharing a feedback subsystem):")
        else:
            lines.append("Dominant loops by period (each loop alone in its feedback subsystem):")
            competing = self.dominance
        for r in competing.itertuples():
            labels = ", ".join(self.label(i) for i in r.loops)
            kind = "reinforcing" if r.polarity == "R" else "balancing"
            lines.append(f"  {r.start:.10g} to {r.end:.10g}: {labels} ({kind})")
        if not self.by_stage.empty:
            lines.append("Share of each stage's time each loop dominates:")
            for (stage, name), group in self.by_stage.groupby(["stage", "stage_name"], sort=True):
                top = group[group["share"] > 0].sort_values("share", ascending=False)
                text = ", ".join(f"{self.label(r.id)} {r.share:.0%}" for r in top.itertuples())
                lines.append(f"  stage {stage}{f' ({name})' if name else ''}: {text or 'none'}")
        return "\n".join(lines)


def _simlin():
    try:
        import simlin
    except ImportError:
        raise SdvagError("loop analysis needs the engine extra: pip install 'sdvag[engine]'") from None
    return simlin


def available() -> bool:
    """Whether Simlin (the `engine` extra) is installed."""
    try:
        import simlin  # noqa: F401
    except ImportError:
        return False
    return True


def _simlin_run(model_file: bytes, info: ModelInfo):
    """Simlin's run of the model file (XMILE, or the Vensim .mdl as it is) with loop scores."""
    simlin = _simlin()
    with tempfile.TemporaryDirectory(prefix="sdvag-loops-") as tmp:
        path = Path(tmp) / f"model{info.path.suffix.lower()}"
        path.write_bytes(model_file)
        try:
            model = simlin.load(path)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                run = model.run(analyze_loops=True)
                loops = run.loops
        except simlin.SimlinError as exc:
            raise LoopAnalysisError(f"{info.path}: Simlin cannot run the model for loop analysis ({exc})") from None
    if run.ltm_mode != "exhaustive":
        raise LoopAnalysisError(f"{info.path}: too many feedback loops for Simlin to enumerate them all "
                                f"(LTM mode {run.ltm_mode})")
    return run, loops


def _model_name(info: ModelInfo, engine_name: str) -> str:
    """A variable's name as the model spells it, from Simlin's identifier for it."""
    var = info.find(engine_name)
    if var is None:
        raise LoopAnalysisError(f"{info.path}: Simlin reports a loop through '{engine_name}', "
                                f"which is not a variable of the model")
    return var.name


def _same_cycle(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    if len(a) != len(b) or not a:
        return False
    doubled = a + a
    return any(doubled[i:i + len(b)] == b for i in range(len(a)))


def _key_variables(info: ModelInfo, variables: tuple[str, ...], taken: set[str]) -> str:
    """Two variables that name a loop: its stocks first, then the rest in causal order; the
    first pair no other loop's name has taken, if there is one."""
    order = sorted(variables, key=lambda v: info.variables[v].kind != "stock")  # stable: causal order kept
    pairs = [f"{a} / {b}" for i, a in enumerate(order) for b in order[i + 1:]]
    name = next((p for p in pairs if p not in taken), pairs[0])
    taken.add(name)
    return name


def _name_loops(info: ModelInfo, loops, named: list[NamedLoop]) -> tuple[pd.DataFrame, list[str]]:
    rows, warned = [], []
    for loop in loops:
        variables = tuple(_model_name(info, v) for v in loop.variables)
        score = np.asarray(loop.behavior_time_series, dtype=float)
        rows.append({"engine_id": loop.id, "variables": variables, "polarity": POLARITY[loop.polarity.name],
                     "partition": loop.partition, "importance": float(np.nanmean(np.abs(score))),
                     "score": score})
    frame = pd.DataFrame(rows)
    ids, names, is_named = [None] * len(frame), [None] * len(frame), [False] * len(frame)
    cycles = [tuple(canonical(v) for v in row["variables"]) for row in rows]
    for loop in named:
        want = tuple(canonical(v) for v in loop.variables)
        hits = [i for i, cycle in enumerate(cycles) if _same_cycle(cycle, want)]
        if not hits:
            warned.append(f"warning: named loop {loop.label} is not a feedback loop Simlin found")
            continue
        i = hits[0]
        ids[i], names[i], is_named[i] = loop.code, loop.name, True
        computed = rows[i]["polarity"]
        if computed != loop.polarity:
            warned.append(f"warning: named loop {loop.label} is declared {loop.polarity} but is "
                          f"{ {'R': 'reinforcing', 'B': 'balancing', 'U': 'of changing polarity'}[computed]} "
                          f"in this run")
    taken = {loop.code for loop in named}
    counters: dict[str, int] = {}
    used_names: set[str] = set()
    for i in sorted(range(len(rows)), key=lambda i: -rows[i]["importance"]):
        if ids[i] is not None:
            continue
        letter = rows[i]["polarity"]
        n = counters.get(letter, 0) + 1
        while f"{letter}{n}" in taken:
            n += 1
        counters[letter] = n
        ids[i] = f"{letter}{n}"
        taken.add(ids[i])
        names[i] = _key_variables(info, rows[i]["variables"], used_names)
    sizes = frame["partition"].value_counts(dropna=False)
    frame["alone"] = [p is None or sizes.get(p, 0) == 1 for p in frame["partition"]]
    frame.insert(0, "id", ids)
    frame.insert(1, "name", names)
    frame.insert(2, "named", is_named)
    return frame, warned


def _dominance(frame: pd.DataFrame, periods, time: np.ndarray) -> tuple[pd.DataFrame, list[frozenset]]:
    """Periods of a constant dominant set (per partition) and sign; and the set at each step."""
    by_engine = dict(zip(frame["engine_id"], frame["id"]))
    score = dict(zip(frame["id"], frame["score"]))
    partition_of = dict(zip(frame["id"], frame["partition"]))
    at_step: list[set] = [set() for _ in time]
    for period in periods:
        inside = (time >= period.start_time - 1e-9) & (time <= period.end_time + 1e-9)
        for i in np.flatnonzero(inside):
            at_step[i].update(by_engine[e] for e in period.dominant_loops)
    rows = []
    for part in sorted({p for p in frame["partition"] if p is not None} | {None}, key=lambda p: (p is None, p)):
        current, start = None, None
        for i, t in enumerate(time):
            ids = tuple(sorted(x for x in at_step[i] if partition_of[x] == part))
            sign = "R" if sum(score[x][i] for x in ids) > 0 else "B"
            state = (ids, sign) if ids else None
            if state != current:
                if current is not None:
                    rows.append({"start": start, "end": float(time[i - 1]), "partition": part,
                                 "loops": current[0], "polarity": current[1]})
                current, start = state, float(t)
        if current is not None:
            rows.append({"start": start, "end": float(time[-1]), "partition": part,
                         "loops": current[0], "polarity": current[1]})
    dominance = pd.DataFrame(rows, columns=DOMINANCE_COLUMNS)
    return dominance.sort_values(["start", "partition"], kind="stable").reset_index(drop=True), \
        [frozenset(s) for s in at_step]


def _by_stage(frame: pd.DataFrame, at_step: list[frozenset], stages: np.ndarray,
              names: dict[int, str]) -> pd.DataFrame:
    """For each stage and loop, the share of the stage's steps at which the loop dominates.

    The first step has no score (a loop score compares two steps), so it is left out."""
    rows = []
    codes = np.rint(stages[1:]).astype(int)
    steps = at_step[1:]
    for stage in sorted(set(codes.tolist())):
        where = np.flatnonzero(codes == stage)
        for loop_id, name, alone in zip(frame["id"], frame["name"], frame["alone"]):
            if alone:  # dominant by construction: nothing to compete with
                continue
            share = sum(loop_id in steps[i] for i in where) / where.size
            rows.append({"stage": stage, "stage_name": names.get(stage, ""), "id": loop_id, "name": name,
                         "share": share})
    return pd.DataFrame(rows, columns=STAGE_COLUMNS)


def _vensim_as_is(scenario: Scenario, info: ModelInfo) -> ScenarioCopy:
    """A Vensim model on its own values, which Simlin reads as it is; a scenario's changes
    would have to be written into the .mdl, which sdvag does not do (it writes only XMILE)."""
    if scenario.constants or scenario.graphical or scenario.inputs or scenario.policies or scenario.sim:
        raise NotEditable(info, "analyse the loops of a scenario (or --set)")
    time_settings(scenario, info)  # refuses computed time settings: Simlin would run a grid of its own
    return ScenarioCopy(scenario, info.data, Simulator.for_scenario(scenario).run(scenario), 0.0)


def loops(target: str | Path | Scenario, set: dict | None = None) -> LoopsResult:
    """The feedback loops of a scenario (or a bare model), their scores and their dominance."""
    _simlin()
    scenario = target if isinstance(target, Scenario) else load_scenario(target, set)
    info = read_model(scenario.model)
    named, problems = read_named_loops(info)
    if problems:
        raise SdvagError(problems[0])
    copy = _vensim_as_is(scenario, info) if info.path.suffix.lower() == VENSIM_SUFFIX else scenario_copy(scenario)
    run, found = _simlin_run(copy.xmile, info)
    results = run.results
    diffs = trajectory_differences(copy.run, results)
    wrong = sorted((d, n) for n, d in diffs.items() if not d <= ENGINE_TOLERANCE)
    if wrong:
        raise LoopAnalysisError(f"{scenario.path or scenario.model}: Simlin's run differs from sdvag's "
                                f"('{wrong[-1][1]}' by {wrong[-1][0]:.1e}); its loop scores would not describe "
                                f"this scenario")
    time = np.asarray(results.index, dtype=float)
    time_coord = {"time": ("time", time, {"units": info.sim.time_units or "time"})}
    if not found:
        named_missing = [f"warning: named loop {loop.label} is not a feedback loop Simlin found" for loop in named]
        return LoopsResult(scenario.name, pd.DataFrame(columns=LOOP_COLUMNS), xr.Dataset(coords=time_coord),
                           pd.DataFrame(columns=DOMINANCE_COLUMNS), pd.DataFrame(columns=STAGE_COLUMNS),
                           copy.run, named_missing)
    frame, warned = _name_loops(info, found, named)
    dominance, at_step = _dominance(frame, run.dominant_periods, time)
    stage_column = {canonical(str(c)): c for c in results.columns}.get(canonical(STAGE_VARIABLE))
    by_stage = pd.DataFrame(columns=STAGE_COLUMNS) if stage_column is None else _by_stage(
        frame, at_step, results[stage_column].to_numpy(dtype=float), stage_names(copy.run))
    scores = xr.Dataset(
        {r.id: xr.DataArray(r.score, dims="time", attrs={
            "name": r.name, "polarity": r.polarity, "variables": " -> ".join(r.variables),
            "named": int(r.named), "partition": -1 if r.partition is None else int(r.partition)})
         for r in frame.itertuples()},
        coords=time_coord,
        attrs={"scenario": scenario.name, "model": str(info.path), "model_sha256": info.sha256,
               "description": "relative loop score (Loops That Matter, by Simlin): the loop's signed share "
                              "of the change in its cycle partition"})
    table = frame[LOOP_COLUMNS].sort_values(
        ["named", "importance"], ascending=[False, False], kind="stable").reset_index(drop=True)
    return LoopsResult(scenario.name, table, scores, dominance, by_stage, copy.run, warned)
