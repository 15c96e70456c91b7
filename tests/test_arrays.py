"""Subscripted XMILE models: apply-to-all and per-element arrays and reductions, in closed form."""
import numpy as np
import pytest

import sdvag

from conftest import FIXTURES

RATES = {"North": 0.1, "South": 0.2, "East": 0.4}


@pytest.fixture(scope="module")
def run():
    return sdvag.run(FIXTURES / "foreign" / "arrays.xmile")


def test_each_element_grows_at_its_own_rate(run):
    t = run["time"].values
    for region, rate in RATES.items():
        for sector in ("Farm", "Factory"):
            # Euler, dt 0.5: F(t) = 10 (1 + 0.5 r)^(t / 0.5)
            np.testing.assert_allclose(run[f"Firms[{region},{sector}]"].values,
                                       10 * (1 + 0.5 * rate) ** (t / 0.5), rtol=1e-12)


def test_reductions_and_element_references(run):
    total = sum(run[f"Firms[{r},{s}]"].values for r in RATES for s in ("Farm", "Factory"))
    np.testing.assert_allclose(run["Total Firms"].values, total, rtol=1e-12)
    assert set(run["Largest Rate"].values) == {0.4}
    np.testing.assert_allclose(run["South Farms"].values, run["Firms[South,Farm]"].values)
    assert set(run["East Position"].values) == {3}  # Stella's Dimension.Element: its position
    for region, rate in RATES.items():
        np.testing.assert_allclose(run[f"Share[{region}]"].values, rate / 0.7, rtol=1e-12)
