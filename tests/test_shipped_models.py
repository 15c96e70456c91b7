"""Every shipped model passes every check, and every shipped scenario runs."""
import importlib.util

import numpy as np
import pytest

import sdvag
from sdvag.analysis.checks import check
from sdvag.model.shipped import shipped_models, shipped_scenarios

from conftest import SHARED, cli

SCHEMA = SHARED / "xmile" / "xmile-v1.0.xsd"
MODELS = shipped_models()
SCENARIOS = [s for s in shipped_scenarios() if s.parent.name not in ("calibration", "sensitivity")]


def test_models_are_shipped():
    assert {p.stem for p in MODELS} >= {"cluster_evolution"}


@pytest.mark.parametrize("model", MODELS, ids=[m.stem for m in MODELS])
def test_model_passes_every_check(model):
    engine = importlib.util.find_spec("simlin") is not None
    findings = check(model, schema=SCHEMA if SCHEMA.exists() else None, engine=engine, strict=True)
    assert [f"{f.check}: {f.message}" for f in findings if f.status != "pass"] == []
    if SCHEMA.exists():
        assert any(f.check == "schema" and f.status == "pass" for f in findings)
    else:
        pytest.skip(f"official schema absent ({SCHEMA}): every other check passed")


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.stem for s in SCENARIOS])
def test_scenario_runs_with_finite_key_outputs(scenario):
    ds = sdvag.run(scenario)
    outputs = sdvag.load_scenario(scenario).outputs
    assert outputs, "a shipped scenario names its key outputs"
    for name in outputs:
        assert np.isfinite(ds[name].to_numpy()).all(), name


@pytest.mark.parametrize("model", MODELS, ids=[m.stem for m in MODELS])
def test_cli_compares_all_scenarios_of_a_model(model, tmp_path):
    mine = [s for s in SCENARIOS if sdvag.load_scenario(s).model == model.resolve()]
    if len(mine) < 2:
        pytest.skip(f"{model.name} has fewer than two scenarios")
    proc = cli("compare", *mine, "--out", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "results.nc").exists() and (tmp_path / "results.csv").exists()
    assert f"running {len(mine)}/{len(mine)}" in proc.stderr
