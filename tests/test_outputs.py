"""What sdvag prints and draws for readers: numbers, stages, comparisons, plot formats, progress."""
import json

import numpy as np
import pytest

import sdvag
from sdvag.analysis.stages import stage_names
from sdvag.formatting import format_number
from sdvag.report import tables
from sdvag.simulation.ensemble import run_ensemble
from sdvag.simulation.scenario import load_scenario

from conftest import FIXTURES, aux, write_model

STAGE_DOC = ("Stage of the cluster from its size. Source: fixture.\n"
             "Stages: 1 = quantity concentration; 2 = quality improvement; 3 = R&amp;D and brand innovation")
STAGED = f"""
<stock name="Firms"><eqn>5</eqn><inflow>Entry</inflow><units>firm</units></stock>
<flow name="Entry"><eqn>0.5 * Firms * (1 - Firms / 1000)</eqn><units>firm/year</units></flow>
{aux("Evolution Stage", "IF Firms > 500 THEN 3 ELSE (IF Firms > 50 THEN 2 ELSE 1)", f"<doc>{STAGE_DOC}</doc>")}
"""


@pytest.mark.parametrize("value,text", [
    (505312.4, "505,312"), (9999, "9,999"), (10000, "10,000"), (-1234567, "-1,234,567"),
    (12.3456, "12.35"), (5.0, "5"), (0.0012345, "0.001234"), (-0.0, "0"), (2.5e16, "2.500e+16"),
    (1e-5, "1.000e-05"),
])
def test_numbers_have_separators_and_no_exponent_for_normal_magnitudes(value, text):
    assert format_number(value) == text


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    path = write_model(tmp_path_factory.mktemp("staged") / "staged.xmile", STAGED, stop=20, dt=0.25)
    (path.parent / "staged.toml").write_text('model = "staged.xmile"\noutputs = ["Firms", "Evolution Stage"]\n')
    return path.parent / "staged.toml"


def test_stage_names_come_from_the_doc_line(staged):
    ds = sdvag.run(staged)
    assert stage_names(ds) == {1: "quantity concentration", 2: "quality improvement", 3: "R&D and brand innovation"}
    text = tables.summary(ds)
    assert "stage 1 (quantity concentration) from 0, stage 2 (quality improvement) from " in text


def test_stage_plot_is_a_step_with_the_stage_names_as_ticks(staged):
    ds = sdvag.run(staged)
    fig = tables.output_figure(ds, "Evolution Stage")
    [ax] = fig.axes
    assert ax.lines[0].get_drawstyle() == "steps-post"
    assert list(ax.get_yticks()) == [1, 2, 3]
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        "quantity concentration", "quality improvement", "R&D and brand innovation"]
    unnamed = ds.copy()
    unnamed["Evolution Stage"].attrs["doc"] = "no names here"
    [ax] = tables.output_figure(unnamed, "Evolution Stage").axes
    assert [t.get_text() for t in ax.get_yticklabels()] == ["stage 1", "stage 2", "stage 3"]


def test_coinciding_runs_are_drawn_in_different_styles(staged):
    both = sdvag.compare([staged, staged])
    [ax] = tables.output_figure(both, "Firms").axes
    first, second = ax.lines
    np.testing.assert_array_equal(first.get_ydata(), second.get_ydata())  # the same curve ...
    assert (first.get_linestyle(), first.get_marker()) != (second.get_linestyle(), second.get_marker())


def test_comparing_different_models_gives_no_nan_rows(staged):
    both = sdvag.compare([staged, FIXTURES / "adoption.xmile"])
    text = tables.summary(both)
    assert "nan" not in text.lower()
    assert "Firms (firm) / staged" in text and "Adopters (firm) / adoption" in text
    assert "Adopters (firm) / staged" not in text and "Firms (firm) / adoption" not in text
    assert tables.problems(both) == []  # a variable of the other model is not "not finite"


def test_plots_in_pdf_and_svg_for_papers(staged, tmp_path):
    written = tables.write_all(sdvag.run(staged), tmp_path, formats=("pdf", "svg"))
    assert (tmp_path / "evolution_stage.pdf").read_bytes().startswith(b"%PDF")
    assert b"<svg" in (tmp_path / "firms.svg").read_bytes()
    assert not any(p.suffix == ".png" for p in written)
    with pytest.raises(sdvag.SdvagError, match="--format jpg: expected one of png, pdf, svg"):
        tables.write_all(sdvag.run(staged), tmp_path, formats=("jpg",))


def test_spaces_in_names_are_explained(tmp_path):
    path = write_model(tmp_path / "spaced.xmile", aux("Total Market", "100") + aux("Share", "Total Market / 2"))
    with pytest.raises(sdvag.SdvagError, match=r"'Share' writes Total Market with spaces.*write `Total_Market` "
                                               r"or quote the name \(\"Total Market\"\)"):
        sdvag.run(path)


def test_progress_bar_when_asked_silence_when_not_watched(capsys):
    scenario = load_scenario(FIXTURES / "adoption.xmile")
    values = np.array([[0.4], [0.6], [0.8]])
    run_ensemble(scenario, ["Growth Rate"], values, workers=1)  # stderr is not a terminal: silent
    assert capsys.readouterr().err == ""
    run_ensemble(scenario, ["Growth Rate"], values, workers=1, progress=True)
    assert "3/3" in capsys.readouterr().err  # a tqdm bar
    said = []
    run_ensemble(scenario, ["Growth Rate"], values, workers=1, progress=said.append)
    assert said[0] == "running 3 runs in this process" and "3/3 runs" in said[-1]


def test_chosen_outputs_are_checked(staged):
    ds = tables.choose_outputs(sdvag.run(staged), ["firms"])
    assert json.loads(ds.attrs["outputs"]) == ["Firms"]
    with pytest.raises(sdvag.SdvagError, match="--outputs: unknown variable 'Firm'.*did you mean 'Firms'"):
        tables.choose_outputs(ds, ["Firm"])
