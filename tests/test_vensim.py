"""Vensim .mdl models through PySD's Vensim translator: run, described and refused like XMILE."""
import numpy as np
import pytest

import sdvag
from sdvag.errors import UnsupportedFeature

from conftest import FIXTURES, cli

DECAY = FIXTURES / "foreign" / "decay.mdl"


def test_mdl_runs_to_its_closed_form():
    ds = sdvag.run(DECAY)
    t = ds["time"].values
    stock = 100 * (1 - 0.5 / 4) ** (t / 0.5)  # Euler, dt 0.5, lifetime 4
    np.testing.assert_allclose(ds["Stock"].values, stock, rtol=1e-12)
    for region, weight in (("North", 1), ("South", 2), ("East", 3)):
        np.testing.assert_allclose(ds[f"Weighted Stock[{region}]"].values, weight * stock, rtol=1e-12)


def test_mdl_units_docs_and_ranges_are_read():
    info = sdvag.read_model(DECAY)
    assert (info.sim.start, info.sim.stop, info.sim.dt, info.sim.save_step) == (0, 8, 0.5, 0.5)
    var = info.variables["Initial Stock"]
    assert var.units == "widgets" and var.range == (0, 1000) and var.doc == "Starting amount."
    assert var.is_constant and var.default == 100
    assert info.variables["Stock"].kind == "stock"
    assert info.variables["Weight"].dimensions == ("Region",)


def test_mdl_scenario_values_are_checked_against_its_ranges(tmp_path):
    ds = sdvag.run(DECAY, set={"Lifetime": 2})
    assert ds["Stock"].values[1] == pytest.approx(75.0)
    proc = cli("run", DECAY, "--set", "Lifetime=20")
    assert proc.returncode == 2 and "outside the range" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("equation, feature", [
    ("RANDOM UNIFORM(0, 1, 3)", "RANDOM UNIFORM (Vensim's random number stream cannot be reproduced)"),
    ("ALLOCATE AVAILABLE(Weight[Region], Weight[Region], 4)", "ALLOCATE AVAILABLE"),
])
def test_what_pysd_simulates_unlike_vensim_is_refused(tmp_path, equation, feature):
    text = DECAY.read_text().replace("Stock / Lifetime", f"Stock / Lifetime + 0 * ({equation})")
    if "Region" in equation:
        text = text.replace("Outflow=", "Outflow[Region]=").replace("-Outflow,", "-SUM(Outflow[Region!]),")
    path = tmp_path / "refused.mdl"
    path.write_text(text)
    with pytest.raises(UnsupportedFeature) as caught:
        sdvag.run(path)
    assert feature in str(caught.value) and "'Outflow'" in str(caught.value)


def test_a_delay_n_whose_delay_time_has_fewer_subscripts_is_refused():
    # SDXorg subscripted_delays: PySD's DELAY N stocks differ from Vensim's in this form
    with pytest.raises(UnsupportedFeature, match="DELAY N with a delay time over fewer subscripts than its variable") \
            as caught:
        sdvag.run(FIXTURES / "foreign" / "delayn_partial.mdl")
    assert "'Out'" in str(caught.value)
