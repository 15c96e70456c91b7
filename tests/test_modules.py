"""XMILE modules flattened into one model: variables named by module path, inputs connected."""
import numpy as np
import pytest

import sdvag
from sdvag.errors import SdvagError

from conftest import FIXTURES, aux, write_model


@pytest.fixture(scope="module")
def run():
    return sdvag.run(FIXTURES / "foreign" / "modules.xmile")


def test_module_variables_are_named_by_their_path_and_connected(run):
    t = run["time"].values
    # Home grows at the main model's Rate (0.1); Abroad at Home's Doubled (0.2), which replaces
    # Abroad's own placeholder stock for Growth
    np.testing.assert_allclose(run["Home.Firms"].values, 100 * 1.05 ** (t / 0.5), rtol=1e-12)
    np.testing.assert_allclose(run["Abroad.Firms"].values, 100 * 1.1 ** (t / 0.5), rtol=1e-12)
    np.testing.assert_allclose(run["Both"].values, run["Home.Firms"].values + run["Abroad.Firms"].values)


def test_module_variables_can_be_set_by_their_path():
    ds = sdvag.run(FIXTURES / "foreign" / "modules.xmile", set={"Rate": 0.2})
    np.testing.assert_allclose(ds["Home.Firms"].values[-1], 100 * 1.1 ** 10, rtol=1e-12)


def test_module_without_its_model_is_bad_input(tmp_path):
    path = write_model(tmp_path / "m.xmile", '<module name="Hares"/>' + aux("X", "1"))
    with pytest.raises(SdvagError, match="module 'Hares' refers to no model"):
        sdvag.run(path)


def test_a_connection_may_quote_the_name_it_feeds(tmp_path):
    # Stella writes to='Abroad."Growth/rate"' for names with characters beyond letters and digits
    path = write_model(tmp_path / "quoted.xmile", aux("Rate", "0.1")
                       + """<module name="Abroad"><connect to='Abroad."Growth/rate"' from=".Rate"/></module>""")
    path.write_text(path.read_text().replace("</xmile>", """<model name="Abroad"><variables>
<aux name="Growth/rate"><eqn>0</eqn></aux><aux name="Doubled"><eqn>2 * "Growth/rate"</eqn></aux>
</variables></model></xmile>"""))
    ds = sdvag.run(path)
    assert set(ds["Abroad.Doubled"].values) == {0.2}
