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


def test_a_delay_with_an_argument_over_fewer_dimensions_is_refused(tmp_path):
    # SDXorg subscripted_delays (XMILE): PySD's outflows differ from Stella's and Simlin's
    import pytest
    from sdvag.errors import UnsupportedFeature
    dims = ('<dimensions><dim name="A"><elem name="a1"/><elem name="a2"/></dim>'
            '<dim name="B"><elem name="b1"/><elem name="b2"/></dim></dimensions>')
    variables = ('<aux name="Lag"><dimensions><dim name="A"/></dimensions><eqn>2</eqn></aux>'
                 '<aux name="Input"><dimensions><dim name="A"/><dim name="B"/></dimensions><eqn>1</eqn></aux>'
                 '<aux name="Out"><dimensions><dim name="A"/><dim name="B"/></dimensions>'
                 '<eqn>DELAY3(Input[A, B], Lag[A])</eqn></aux>')
    path = tmp_path / "partial.xmile"
    path.write_text(f'''<?xml version="1.0" encoding="utf-8"?>
<xmile version="1.0" xmlns="http://docs.oasis-open.org/xmile/ns/XMILE/v1.0">
<header><name>partial</name></header>
<sim_specs method="Euler" time_units="year"><start>0</start><stop>4</stop><dt>0.25</dt></sim_specs>
{dims}<model><variables>{variables}</variables></model></xmile>''')
    with pytest.raises(UnsupportedFeature, match="DELAY3 with an argument over fewer dimensions") as caught:
        sdvag.run(path)
    assert "'Out'" in str(caught.value)
