"""The functions a script calls: each runs an analysis and, given `out`, writes its files.

Analyses (sdvag.analysis) compute and return result objects; reports (sdvag.report) write them.
This module joins the two for the Python API and the command line alike.
"""
from __future__ import annotations

from pathlib import Path

from sdvag.progress import Progress, messages


def _written(paths: list[Path], progress: Progress) -> list[Path]:
    say = messages(progress)
    if say:
        for path in paths:
            say(f"wrote {path}")
    return paths


def calibrate(spec, method: str | None = None, seed: int | None = None, workers: int | None = None,
              out: str | Path | None = None, progress: Progress = None, holdout_from: float | None = None):
    """Fit a calibration specification (a TOML file, a CalibrationSpec or a dict like the TOML
    table); with `out`, write the calibrated scenario and the fit plot there. `holdout_from`:
    fit on the values observed before that year and check the rest against the projection band."""
    from sdvag.analysis.calibration import calibrate as fit
    result = fit(spec, method=method, seed=seed, workers=workers, progress=progress, holdout_from=holdout_from)
    if out is not None:
        from sdvag.report.calibration_output import write
        result.files = _written(write(result, out), progress)
    return result


def sensitivity(scenario, parameters: dict | list, *, out: str | Path | None = None,
                progress: Progress = None, **options):
    """Sensitivity of a scenario to `parameters` (see sdvag.analysis.sensitivity.sensitivity for
    the options); with `out`, write results.nc, indices.csv, ranking.txt and fan charts there."""
    from sdvag.analysis.sensitivity import sensitivity as analyse
    return _write_sensitivity(analyse(scenario, parameters, progress=progress, **options), out, progress)


def sensitivity_file(spec_path: str | Path, out: str | Path | None = None, workers: int | None = None,
                     scheduler: str | None = None, progress: Progress = None):
    """Sensitivity analysis from a specification file (what `python -m sdvag sensitivity` runs)."""
    from sdvag.analysis.sensitivity import analyse, load_spec
    result = analyse(load_spec(spec_path), workers=workers, scheduler=scheduler, progress=progress)
    return _write_sensitivity(result, out, progress)


def _write_sensitivity(result, out, progress: Progress):
    if out is not None:
        from sdvag.report.sensitivity_output import write
        result.files = _written(write(result, out), progress)
    return result


def loops(target, set: dict | None = None, out: str | Path | None = None, progress: Progress = None):
    """The feedback loops of a scenario or model file, their Loops That Matter scores over time
    and their dominance by period and by evolution stage (sdvag.analysis.loops.LoopsResult);
    with `out`, write loops.csv, loop_list.csv, dominance.csv, dominance_by_stage.csv and a plot."""
    from sdvag.analysis.loops import loops as analyse
    result = analyse(target, set=set)
    if out is not None:
        from sdvag.report.loops_output import write
        result.files = _written(write(result, out), progress)
    return result


def knockout(target, link: list[tuple] | None = None, freeze: dict | None = None,
             loop: list[str] | None = None, set: dict | None = None, out: str | Path | None = None,
             progress: Progress = None):
    """A scenario run intact and with links cut, variables frozen or named loops cut
    (sdvag.analysis.knockout.knockout for the arguments); with `out`, write both runs
    (results.nc, results.csv, dimension `scenario` = intact, knocked out) and a plot per key
    output; `sdvag.report.knockout_output.summary(result)` tabulates them."""
    from sdvag.analysis.knockout import knockout as analyse
    result = analyse(target, link=link, freeze=freeze, loop=loop, set=set)
    if out is not None:
        from sdvag.report.knockout_output import write
        result.files = _written(write(result, out), progress)
    return result
