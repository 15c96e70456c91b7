"""`sdvag export --to mdl`: a Vensim file that PySD's Vensim reader runs to the same trajectories."""
import contextlib
import io
import sys
import warnings

import numpy as np
import pandas as pd
import pysd
import pytest

import sdvag
from conftest import FIXTURES, ROOT, aux, cli, write_model
from sdvag.report import export as export_module
from sdvag.errors import SdvagError
from sdvag.report.export import export
from sdvag.model.xmile import canonical, read_model

SHIPPED = sorted((ROOT / "models").glob("*.xmile"))
MODELS = [FIXTURES / "adoption.xmile", FIXTURES / "stella_saved.stmx", *SHIPPED]
if not SHIPPED:
    MODELS.append(pytest.param(None, marks=pytest.mark.skip(reason="no shipped models in models/")))


@pytest.fixture(scope="module", params=MODELS, ids=lambda m: getattr(m, "stem", "none"))
def exported(request, tmp_path_factory):
    model = request.param
    return model, export(model, out=tmp_path_factory.mktemp("export") / f"{model.stem}.mdl")


def _vensim_run(mdl) -> pd.DataFrame:
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        return pysd.read_vensim(str(mdl)).run()


def _entries(mdl) -> dict[str, tuple[str, str]]:
    """(units, comment) of each equation in a .mdl, by canonical name."""
    head = mdl.read_text(encoding="utf-8").split("\\\\\\---///")[0].replace("{UTF-8}", "")
    found = {}
    for chunk in head.replace("\\\n", " ").split("|"):
        fields = chunk.split("~")
        if "=" in fields[0] and len(fields) == 3:
            found[canonical(fields[0].split("=")[0])] = (" ".join(fields[1].split()), " ".join(fields[2].split()))
    return found


def test_the_vensim_file_simulates_like_the_xmile_model(exported):
    model, mdl = exported
    frame = _vensim_run(mdl)
    ds = sdvag.run(model)
    np.testing.assert_allclose(np.asarray(frame.index, dtype=float), ds["time"].to_numpy())
    columns = {canonical(str(c)): c for c in frame.columns}
    for name in ds.data_vars:
        assert canonical(name) in columns, f"{name} is missing from {mdl.name}"
        want = ds[name].to_numpy()
        got = frame[columns[canonical(name)]].to_numpy(dtype=float)
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9 * np.abs(want).max() + 1e-12, err_msg=name)


def test_the_vensim_file_keeps_units_and_documentation(exported):
    model, mdl = exported
    entries = _entries(mdl)
    for var in read_model(model).variables.values():
        units, comment = entries[canonical(var.name)]  # also: each entry has exactly three fields
        assert units == " ".join(var.units.split()), var.name
        # Vensim has no escape for its field separators: documentation keeps look-alikes
        assert comment == " ".join(var.doc.split()).replace("~", "\u223c").replace("|", "\u00a6"), var.name


def test_cli_writes_the_mdl(tmp_path):
    proc = cli("export", FIXTURES / "adoption.xmile", "--out", tmp_path / "x.mdl")
    assert proc.returncode == 0, proc.stderr
    assert "Adopters=" in (tmp_path / "x.mdl").read_text(encoding="utf-8")
    assert [p.name for p in tmp_path.iterdir()] == ["x.mdl"]


def test_a_model_sdvag_cannot_run_is_refused(tmp_path):
    model = write_model(tmp_path / "history.xmile", aux("Lagged", "HISTORY(TIME, 0)"))
    proc = cli("export", model, "--out", tmp_path / "history.mdl")
    assert proc.returncode == 3 and "HISTORY" in proc.stderr
    assert not (tmp_path / "history.mdl").exists()


def test_an_export_that_simulates_differently_is_not_written(tmp_path, monkeypatch):
    convert = export_module.to_mdl
    monkeypatch.setattr(export_module, "to_mdl",
                        lambda info: convert(info).replace(b"Growth Rate = 0.5", b"Growth Rate = 0.6"))
    with pytest.raises(SdvagError, match="Adopters") as raised:
        export(FIXTURES / "adoption.xmile", out=tmp_path / "wrong.mdl")
    assert "Growth Rate" in str(raised.value)
    assert not list(tmp_path.iterdir())


def test_without_the_engine_extra_export_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "simlin", None)  # import simlin now raises ImportError
    with pytest.raises(SdvagError, match=r"pip install 'sdvag\[engine\]'"):
        export(FIXTURES / "adoption.xmile", out=tmp_path / "x.mdl")
