"""Time settings that cannot be run as asked are refused before any run: a step that does not
move time on, a run too long to finish, a step or save step longer than the run."""
import pytest

from hostile import model_text, project, sdvag_main
from sdvag.errors import SdvagError
from sdvag.simulation import simulate
from sdvag.simulation.scenario import Scenario, load_scenario


@pytest.mark.parametrize("sim, message", [
    ("start = 2000\nstop = 2001\ndt = 1e-13", "too small to move time on from 2000"),
    ("start = 1e16\nstop = 2e16\ndt = 1", "too small to move time on"),
    ("dt = 1e-300", "steps"),
    ("stop = 1e9\ndt = 0.5", "more than the limit of 10,000,000"),
    ("dt = 100", "longer than the run"),
    ("save_step = 10", "the final time would not be saved"),
    ("dt = 0", "must be positive"),
    ("dt = -1", "must be positive"),
    ("dt = nan", "not finite"),
    ("max_steps = 0.5", "expected a whole number"),
    ("max_steps = -3", "must be positive"),
])
def test_impossible_time_grids_are_refused_with_one_line(tmp_path, sim, message):
    folder = project(tmp_path)
    (folder / "t.toml").write_text(f'model = "model.xmile"\n[sim]\n{sim}\n')
    status, _, err = sdvag_main("run", folder / "t.toml")
    assert status == 2 and message in err and len(err.splitlines()) == 1, err


@pytest.mark.parametrize("specs", ["<start>2000</start><stop>2001</stop><dt>1e-13</dt>",
                                   '<start>0</start><stop>4</stop><dt reciprocal="true">0</dt>',
                                   "<start>0</start><stop>4</stop><dt>100</dt>"])
def test_a_model_files_own_time_grid_is_checked_too(tmp_path, specs):
    folder = project(tmp_path, model_text().replace("<start>0</start><stop>4</stop><dt>0.5</dt>", specs))
    status, _, err = sdvag_main("run", folder / "model.xmile")
    assert status == 2 and "Traceback" not in err and len(err.splitlines()) == 1, err


def test_the_step_limit_is_set_by_the_environment_or_the_scenario(tmp_path, monkeypatch):
    folder = project(tmp_path)
    monkeypatch.setenv("SDVAG_MAX_STEPS", "4")  # the model's 0 to 4 by 0.5 takes 8 steps
    status, _, err = sdvag_main("run", folder / "model.xmile")
    assert status == 2 and "limit of 4" in err
    (folder / "t.toml").write_text('model = "model.xmile"\n[sim]\nmax_steps = 8\n')
    assert sdvag_main("run", folder / "t.toml")[0] == 0


def test_a_scenario_built_in_python_is_checked_when_run(tmp_path):
    folder = project(tmp_path)
    scenario = load_scenario(folder / "model.xmile")
    bad = Scenario(name="bad", model=scenario.model, sim={"dt": 1e-300})
    with pytest.raises(SdvagError, match="steps"):
        simulate.run(bad)


def test_a_long_run_shows_progress_only_when_asked(tmp_path, monkeypatch, capfd):
    folder = project(tmp_path)
    monkeypatch.setattr(simulate, "LONG_RUN_STEPS", 5)  # the model's 8 steps count as long
    simulate.run(folder / "model.xmile", progress=True)
    assert "100%" in capfd.readouterr().err
    simulate.run(folder / "b.toml", progress=False)
    monkeypatch.setattr(simulate, "LONG_RUN_STEPS", 50)
    simulate.run(folder / "a.toml", progress=True)
    assert capfd.readouterr().err == ""
