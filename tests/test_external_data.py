"""Vensim models that read data files (GET XLS/DIRECT CONSTANTS, DATA, LOOKUPS): values read as
written in the file, files only from the model's own folder, one-line errors, cache re-reads."""
import os

import numpy as np
import pytest
from openpyxl import Workbook

import sdvag
from sdvag.errors import SdvagError

from conftest import cli

MODEL = """{{UTF-8}}
Rate = GET XLS CONSTANTS('{book}', 'Params', 'B1')
\t~\t1/Month
\t~\tA constant read from the spreadsheet.
\t|

Demand := GET XLS DATA('{book}', 'Series', 'A', 'B2')
\t~\tWidgets/Month
\t~\tA time series read from the spreadsheet, interpolated between its points.
\t|

Effect( GET XLS LOOKUPS('{book}', 'Lookup', '1', 'B2'))
\t~\tDmnl
\t~\tA lookup read from the spreadsheet.
\t|

Offset = GET DIRECT CONSTANTS('offset.csv', ',', 'B2')
\t~\tWidgets
\t~\tA constant read from a .csv file.
\t|

Scale = 2
\t~\tDmnl
\t~\tA literal constant.
\t|

Flow = Demand * Rate * Effect(Time) * Scale
\t~\tWidgets/Month
\t~\t|

Stock = INTEG(Flow, Offset)
\t~\tWidgets
\t~\t|

INITIAL TIME = 0 ~ Month ~ | FINAL TIME = 10 ~ Month ~ | TIME STEP = 0.5 ~ Month ~ |
SAVEPER = TIME STEP ~ Month ~ |
"""


def write_book(path, rate=0.5, sheets=("Params", "Series", "Lookup")):
    """Rate in Params!B1; Demand at months 0, 5, 10 down column A/B; Effect's x across row 1."""
    book = Workbook()
    book.remove(book.active)
    for name in sheets:
        sheet = book.create_sheet(name)
        if name == "Params":
            sheet["A1"], sheet["B1"] = "rate", rate
        elif name == "Series":
            sheet.append(["time", "demand"])
            for t, v in ((0, 10), (5, 20), (10, 40)):
                sheet.append([t, v])
        elif name == "Lookup":
            sheet.append(["x", 0, 10])
            sheet.append(["y", 1, 3])
    book.save(path)


@pytest.fixture
def model(tmp_path):
    write_book(tmp_path / "inputs.xlsx")
    (tmp_path / "offset.csv").write_text("name,value\noffset,7\n")
    path = tmp_path / "reads.mdl"
    path.write_text(MODEL.format(book="inputs.xlsx"))
    return path


def expected(t, rate=0.5):
    demand = np.where(t <= 5, 10 + 2 * t, 20 + 4 * (t - 5))  # linear between the data points
    effect = 1 + 0.2 * t
    flow = demand * rate * effect * 2
    stock = 7 + np.concatenate([[0], np.cumsum(flow[:-1] * 0.5)])  # Euler, dt 0.5
    return demand, effect, flow, stock


def test_constants_data_and_lookups_are_read_from_the_files(model):
    ds = sdvag.run(model)
    t = ds["time"].values
    demand, effect, flow, stock = expected(t)
    assert ds["Rate"].values[0] == 0.5 and ds["Offset"].values[0] == 7
    np.testing.assert_allclose(ds["Demand"].values, demand, rtol=1e-12)
    np.testing.assert_allclose(ds["Flow"].values, flow, rtol=1e-12)
    np.testing.assert_allclose(ds["Stock"].values, stock, rtol=1e-12)


def test_an_edited_spreadsheet_is_read_again(model):
    first = sdvag.run(model)
    write_book(model.parent / "inputs.xlsx", rate=0.8)
    again = sdvag.run(model)  # same process: the compiled model must not be reused
    assert first["Rate"].values[0] == 0.5 and again["Rate"].values[0] == 0.8
    np.testing.assert_allclose(again["Stock"].values, expected(again["time"].values, rate=0.8)[3], rtol=1e-12)
    entries = [p for p in os.scandir(os.environ["SDVAG_CACHE_DIR"]) if p.is_dir()]
    assert len([e for e in entries if os.path.exists(os.path.join(e.path, "inputs.xlsx"))]) >= 2


def test_literal_constants_still_vary_in_scenarios_and_ensembles(model):
    ds = sdvag.run(model, set={"Scale": 3})
    np.testing.assert_allclose(ds["Flow"].values, expected(ds["time"].values)[2] * 1.5, rtol=1e-12)
    from sdvag.simulation.ensemble import run_ensemble
    from sdvag.simulation.scenario import load_scenario
    runs = run_ensemble(load_scenario(model), ["Scale"], [[1.0], [4.0]], columns=["Flow"], workers=2)
    base = expected(runs["time"].values)[2]
    np.testing.assert_allclose(runs["Flow"].values, [base / 2, base * 2], rtol=1e-12)


def test_values_read_from_a_file_are_not_overridden(model):
    proc = cli("run", model, "--set", "Rate=0.9")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "'Rate' is read from the data file 'inputs.xlsx'" in proc.stderr


def _refused(model, book, message):
    model.write_text(MODEL.format(book=book))
    with pytest.raises(SdvagError) as caught:
        sdvag.run(model)
    error = str(caught.value)
    assert caught.value.exit_status == 2 and "\n" not in error
    assert message in error and "'Rate'" in error, error
    return error


@pytest.mark.parametrize("book, message", [
    ("../inputs.xlsx", "a path out of the model's folder ('..')"),
    ("sub/../../inputs.xlsx", "a path out of the model's folder ('..')"),
    ("/tmp/inputs.xlsx", "an absolute path"),
    ("C:/data/inputs.xlsx", "a Windows path"),
    ("https://example.org/inputs.xlsx", "a URL"),
    ("missing.xlsx", "no such file in"),
    ("inputs.pkl", "not a data file type sdvag reads"),
    ("?inputs", "an indirect file reference"),
])
def test_files_outside_the_model_folder_or_missing_are_refused(model, book, message):
    assert f"'{book}'" in _refused(model, book, message)


def test_a_symlink_out_of_the_model_folder_is_refused(model, tmp_path_factory):
    outside = tmp_path_factory.mktemp("elsewhere") / "inputs.xlsx"
    write_book(outside)
    (model.parent / "linked.xlsx").symlink_to(outside)
    _refused(model, "linked.xlsx", "it leads out of the model's folder (a symlink)")


def test_a_device_is_refused(model):
    os.mkfifo(model.parent / "pipe.xlsx")
    _refused(model, "pipe.xlsx", "not a regular file")


def test_a_missing_sheet_is_one_line_naming_variable_and_file(model):
    write_book(model.parent / "inputs.xlsx", sheets=("Series", "Lookup"))
    proc = cli("run", model)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "variable 'Rate' cannot read its data from 'inputs.xlsx', sheet 'Params': Worksheet named " \
           "'Params' not found" in proc.stderr


def test_a_missing_cell_range_is_one_line_naming_variable_and_file(model):
    model.write_text(MODEL.format(book="inputs.xlsx").replace("'Params', 'B1'", "'Params', 'rate_cell'"))
    with pytest.raises(SdvagError, match=r"variable 'Rate' cannot read its data from 'inputs.xlsx', "
                                         r"sheet 'Params': The cellrange name 'rate_cell' Doesn't exist$"):
        sdvag.run(model)


def test_a_data_variable_without_a_file_is_refused(model):
    model.write_text(MODEL.format(book="inputs.xlsx").replace(
        "Demand := GET XLS DATA('inputs.xlsx', 'Series', 'A', 'B2')", "Demand:INTERPOLATE:"))
    proc = cli("run", model)
    assert proc.returncode == 3 and "a data variable with no file named in the model" in proc.stderr
    assert "'Demand'" in proc.stderr


def test_a_translation_may_read_only_the_checked_files(model):
    from sdvag.model.sanitise import translation_problem
    from sdvag.model.translate import compiled
    _, py_file = compiled(model)
    source = py_file.read_text()
    checked = frozenset({"inputs.xlsx", "offset.csv"})
    assert translation_problem(source, checked) is None
    assert "reads a data file sdvag did not check" in translation_problem(source, frozenset({"offset.csv"}))
    elsewhere = source.replace('r"inputs.xlsx"', 'r"/etc/inputs.xlsx"', 1)
    assert "reads a data file sdvag did not check" in translation_problem(elsewhere, checked)
    aliased = source + "\nreader = ExtConstant\n"
    assert "uses ExtConstant other than to read a file" in translation_problem(aliased, checked)


def test_a_damaged_data_copy_in_the_cache_is_replaced(model, capsys):
    from sdvag.model.translate import compiled
    _, py_file = compiled(model)
    (py_file.parent / "offset.csv").write_text("name,value\noffset,99\n")
    _, again = compiled(model)
    assert "the data file offset.csv does not match its checksum" in capsys.readouterr().err
    assert (again.parent / "offset.csv").read_text() == "name,value\noffset,7\n"
