"""`sdvag diagram`: the model's own stock-and-flow view, drawn to SVG or PNG."""
import xml.etree.ElementTree as ET

from conftest import FIXTURES, aux, cli, write_model

from sdvag.model.xmile import read_model

MODEL = FIXTURES / "diagram.xmile"


def _svg_text(path) -> str:
    """All the text of an SVG, whitespace collapsed (a wrapped label reads as its name again)."""
    root = ET.parse(path).getroot()
    words = [" ".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")]
    return " ".join(" ".join(words).split())


def test_svg_names_every_variable_and_the_sector(tmp_path):
    out = tmp_path / "pipeline.svg"
    proc = cli("diagram", MODEL, "--out", out)
    assert proc.returncode == 0, proc.stderr
    text = _svg_text(out)
    for name in read_model(MODEL).variables:
        assert name.replace("\\n", " ") in text, name  # Stella's escaped line break shown as a break
    assert "Customers sector" in text and "Prospects become customers" in text


def test_png_is_written_by_default_as_the_model_stem_in_the_current_folder(tmp_path):
    proc = cli("diagram", MODEL, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "diagram.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert [p.name for p in tmp_path.iterdir()] == ["diagram.png"]  # no temporary file left


def test_a_model_without_a_diagram_is_an_input_error(tmp_path):
    model = write_model(tmp_path / "bare.xmile", aux("Size", "1"))
    proc = cli("diagram", model, "--out", tmp_path / "bare.png")
    assert proc.returncode == 2
    assert "no diagram" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "bare.png").exists()


def test_an_unknown_picture_format_is_an_input_error(tmp_path):
    proc = cli("diagram", MODEL, "--out", tmp_path / "pipeline.jpg")
    assert proc.returncode == 2
    assert ".jpg" in proc.stderr and "Traceback" not in proc.stderr
