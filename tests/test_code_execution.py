"""A model file is data: Python hidden in any of its texts never runs, whatever the command.

Each payload would create a marker file if it ran; every command that reads and runs a model
(run, compare, check, sensitivity, calibrate) is tried on it, and the marker must never appear.
"""
import warnings

import pysd
import pytest

from hostile import every_command, model_text, project, sdvag_main
from sdvag.model import translate
from sdvag.model.sanitise import translation_problem


def payload(marker) -> str:
    return f"__import__('os').system('touch {marker}')"


# Where a model file can carry text that PySD writes into the Python it generates.
PLACES = {
    "doc": lambda p: model_text(rate_extra=f'<doc>rate"""\n{p}\n"""</doc>'),
    "doc on one line (PySD turns a backslash into a line break)":
        lambda p: model_text(rate_extra=f'<doc>rate""" \\{p} \\"""</doc>'),
    "units": lambda p: model_text(rate_extra=f"<units>1/year'; {p}; '\"\"\"\n{p}\n\"\"\"</units>"),
    "name with quotes and parentheses":
        lambda p: model_text(variables=f"<aux name=\"Evil'); {p}; ('\"><eqn>1</eqn></aux>"),
    "name with line breaks": lambda p: model_text(variables=f'<aux name="Evil&#10;{p}&#10;"><eqn>1</eqn></aux>'),
    "equation with a quoted name": lambda p: model_text(rate_eqn=f'0.1 + "x\\"); {p}; #"'),
    "equation with an XML comment": lambda p: model_text(rate_eqn=f'0.1<!-- """\n{p}\n""" -->'),
    "equation with a Stella comment": lambda p: model_text(rate_eqn=f'0.1 {{"""\n{p}\n"""}}'),
    "model name, time units": lambda p: model_text(header=f'x"""\n{p}\n"""', time_units=f"year'{p}'"),
}


@pytest.mark.parametrize("place", PLACES)
def test_no_model_text_runs_as_code_in_any_command(tmp_path, place):
    marker = tmp_path / "PWNED"
    folder = project(tmp_path / "project", PLACES[place](payload(marker)))
    for argv in every_command(folder):
        status, out, err = sdvag_main(*argv, cwd=tmp_path)
        assert not marker.exists(), (place, argv[0])
        assert status in (0, 1, 2, 3) and "Traceback" not in err, (place, argv[0], err)
        if place.startswith(("doc", "units", "model name", "equation with an XML", "equation with a Stella")):
            assert status in (0, 1), (place, argv[0], err)  # harmless text: the model still runs


def test_a_comment_inside_an_equation_is_left_out_not_the_rest(tmp_path):
    """lxml's .text (and so PySD) stops at an XML comment: `0.1<!-- -->+0.2` would be 0.1."""
    import sdvag
    folder = project(tmp_path, model_text(rate_eqn="0.1<!-- a note -->+0.2 {another note}"))
    ds = sdvag.run(folder / "model.xmile")
    assert float(ds["Rate"][0]) == pytest.approx(0.3)


def test_the_syntax_check_alone_refuses_pysds_raw_translation_of_a_payload(tmp_path):
    """Defence in depth: without the sanitised copy, PySD writes the payload into model.py;
    the check run before every import refuses that file."""
    marker = tmp_path / "PWNED"
    raw = tmp_path / "raw.xmile"
    raw.write_text(PLACES["doc"](payload(marker)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pysd.read_xmile(str(raw), initialize=False)  # translates only; writes raw.py
    source = raw.with_suffix(".py").read_text()
    assert "__import__" in source  # PySD really pasted it into the code
    assert "__import__" in translation_problem(source)
    assert not marker.exists()


@pytest.mark.parametrize("line", [
    "import os", "from os import system", "from pysd.py_backend.utils import load_modules",
    "x = open('f')", "x = getattr(component, 'add')", "x = component.__class__",
    "x = np.load('f.npy', allow_pickle=True)", "exec('1')", "class A: pass",
    "from pysd.py_backend.functions import *", "def f():\n    import os",
])
def test_the_syntax_check_refuses_what_pysd_never_writes(tmp_path, monkeypatch, line):
    cache = tmp_path / "cache"
    monkeypatch.setenv("SDVAG_CACHE_DIR", str(cache))
    translate.load(project(tmp_path / "p") / "model.xmile")
    [entry] = [p for p in cache.iterdir() if p.is_dir()]
    source = (entry / "model.py").read_text()
    assert translation_problem(source) is None  # PySD's own translation passes
    assert translation_problem(source + "\n" + line + "\n") is not None
