"""Input that used to do something else silently, or to end in a traceback: each is now one
line naming the file and the key (exit status 2), or works as the user meant."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import sdvag
from conftest import ROOT
from hostile import model_text, project, sdvag_main
from sdvag.errors import SdvagError


def one_error(folder, *argv, status=2, cwd=None):
    """Run the command; it must fail with `status`, saying why on lines of their own."""
    code, out, err = sdvag_main(*argv, cwd=cwd or folder)
    assert code == status, (argv, code, err)
    assert any(line.startswith("error: ") for line in err.splitlines()), err
    assert "Traceback" not in err
    return err


def scenario(folder, text, name="s.toml"):
    (folder / name).write_text('model = "model.xmile"\n' + text)
    return folder / name


# --- scenarios that silently did something else --------------------------------------------

@pytest.mark.parametrize("text, message", [
    ('[[policies]]\nvariable = "Rate"\nat = 1\nto = 0.5\n[[policies]]\nvariable = "rate"\nat = 2\nto = 0.2\n',
     "already has a policy"),
    ('[[policies]]\nvariable = "Rate"\nat = 50\nto = 0.5\n', "after the run's stop time"),
    ('[[policies]]\nvariable = "Rate"\nat = 1\nto = 0.5\nuntil = 3\n', "policies[0].until: unknown key"),
    ('[inputs]\nRate = { points = [[0, 0.1], [4, 0.2]], unit = "x" }\n', 'inputs."Rate".unit: unknown key'),
    ('[inputs]\nRate = { points = [[0, 0.1]], csv = "r.csv" }\n', "not both"),
    ('[graphical]\nOther = { x = [0, 1], y = [0, 1], z = [1, 2] }\n', "unknown key"),
    ('[constants]\nRate = 0.1\n"rate" = 0.3\n', "is already set as 'Rate'"),
    ('[constants]\n"Growth_rate" = 0.1\n', "unknown variable"),
])
def test_scenario_mistakes_are_errors(tmp_path, text, message):
    folder = project(tmp_path)
    assert message in one_error(folder, "run", scenario(folder, text))


def test_a_set_value_spelt_differently_still_replaces_the_scenarios(tmp_path):
    folder = project(tmp_path)
    ds = sdvag.run(folder / "a.toml", set={"rate": 0.4})  # a.toml sets "Rate" = 0.1
    assert float(ds["Rate"][0]) == 0.4
    (folder / "child.toml").write_text('extends = "a.toml"\n[constants]\n"rate" = 0.3\n')
    assert float(sdvag.run(folder / "child.toml")["Rate"][0]) == 0.3


def test_digit_separators_are_not_numbers(tmp_path):
    folder = project(tmp_path)
    assert "not a number" in one_error(folder, "run", folder / "model.xmile", "--set", "Rate=0_1")
    (folder / "r.csv").write_text("time,value\n0,0_1\n4,0.2\n")
    assert "line 2: not a number" in one_error(folder, "run", scenario(folder, '[inputs]\nRate = { csv = "r.csv" }\n'))


# --- duplicate and reserved names ------------------------------------------------------------

@pytest.mark.parametrize("extra", ['<aux name="rate"><eqn>1</eqn></aux>', '<aux name="OTHER"><eqn>1</eqn></aux>',
                                   '<stock name="Rate"><eqn>1</eqn></stock>',
                                   '<flow name="adopters"><eqn>1</eqn></flow>', '<aux name="Time"><eqn>5</eqn></aux>'])
def test_one_name_twice_or_the_clock_is_refused_at_load(tmp_path, extra):
    folder = project(tmp_path, model_text(variables=extra))
    for command in ("run", "describe", "check"):
        err = one_error(folder, command, folder / "model.xmile")
        assert "same name" in err or "clashes with TIME" in err


def test_names_differing_in_spaces_and_underscores_are_one_name(tmp_path):
    folder = project(tmp_path, model_text(variables='<aux name="Adop_ters"><eqn>1</eqn></aux>'
                                                    '<aux name="Adop  ters"><eqn>2</eqn></aux>'))
    assert "same name" in one_error(folder, "run", folder / "model.xmile")


# --- user errors that gave tracebacks ---------------------------------------------------------

def test_unreadable_inputs_are_one_line_errors(tmp_path):
    folder = project(tmp_path)
    (folder / "latin1.csv").write_bytes("time,value\n0,0.1\n4,0.2\n# caf\xe9\n".encode("latin-1"))
    assert "not UTF-8" in one_error(folder, "run", scenario(folder, '[inputs]\nRate = { csv = "latin1.csv" }\n'))
    assert "expected a file name" in one_error(folder, "run", scenario(folder, "[inputs]\nRate = { csv = 5 }\n"))
    loop = folder / "loop.toml"
    os.symlink(loop, loop)
    one_error(folder, "run", loop)
    (folder / "m.xmile").symlink_to(folder / "m.xmile")
    (folder / "x.toml").write_text('model = "m.xmile"\n')
    one_error(folder, "run", folder / "x.toml")
    one_error(folder, "run", folder / "m.xmile")


def test_spec_values_that_crashed_are_refused(tmp_path):
    folder = project(tmp_path)
    calib = folder / "calib.toml"
    calib.write_text(calib.read_text().replace("max_runs = 12", "max_runs = 0.5"))
    assert "whole number" in one_error(folder, "calibrate", calib)
    sens = folder / "sens.toml"
    sens.write_text(sens.read_text().replace("samples = 4", "samples = 1099511627776"))
    assert "runs, more than" in one_error(folder, "sensitivity", sens)
    sens.write_text((folder / "sens.toml").read_text().replace("samples = 1099511627776", "samples = 4")
                    .replace("Other = {}", '"rate" = {}'))
    assert "named twice" in one_error(folder, "sensitivity", sens)
    sens.write_text(sens.read_text().replace('"rate" = {}', "Other = {}"))
    assert "Dask" in one_error(folder, "sensitivity", sens, "--scheduler", "not a url")


@pytest.mark.parametrize("coordinate", ['x="nan"', 'x="inf"', 'x="ten"', 'x="1e999"'])
def test_bad_view_coordinates_do_not_crash_the_diagram_or_the_check(tmp_path, coordinate):
    views = (f'<views><view><stock name="Adopters" {coordinate} y="50"/>'
             '<aux name="Rate" x="10" y="20"/><flow name="Adoption" x="30" y="40">'
             '<pts><pt x="oops" y="40"/><pt x="60" y="40"/></pts></flow></view></views>')
    folder = project(tmp_path, model_text().replace("</variables>", "</variables>" + views))
    for argv in (("diagram", folder / "model.xmile", "--out", tmp_path / "d.png"), ("check", folder / "model.xmile")):
        code, _, err = sdvag_main(*argv)
        assert code in (0, 1) and "Traceback" not in err, err


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_ctrl_c_during_start_up_is_quiet(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "sdvag", "run", str(project(tmp_path) / "model.xmile")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    maps = f"/proc/{proc.pid}/maps"
    while proc.poll() is None and "numpy" not in open(maps).read():
        time.sleep(0.005)  # until sdvag loads its heavy modules (numpy first, then PySD...)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert "Traceback" not in err and proc.returncode in (130, -signal.SIGINT), err


# --- the Python API -----------------------------------------------------------------------

def test_api_type_errors_are_clear_sdvag_errors(tmp_path):
    folder = project(tmp_path)
    for call in (lambda: sdvag.run(None), lambda: sdvag.run(5), lambda: sdvag.compare(str(folder / "a.toml")),
                 lambda: sdvag.stage_changes(sdvag.run(folder / "a.toml")),
                 lambda: sdvag.calibrate(folder / "calib.toml", seed=-1), lambda: sdvag.calibrate(None)):
        with pytest.raises(SdvagError):
            call()


def test_api_accepts_numpy_numbers(tmp_path):
    folder = project(tmp_path)
    ds = sdvag.run(folder / "model.xmile", set={"Rate": np.float32(0.25), "Other": np.int64(1)})
    assert float(ds["Rate"][0]) == 0.25
    res = sdvag.sensitivity(folder / "a.toml", ["Rate", "Other"], samples=np.int64(4), seed=np.int64(2),
                            design="latin", indices=False, workers=1)
    assert res.data.sizes["run"] == 4


# --- messages -----------------------------------------------------------------------------

@pytest.mark.parametrize("change, message", [
    (lambda t: t.replace("<eqn>0.1</eqn>", "<eqn>Nope * 2</eqn>"), "which the model does not define"),
    (lambda t: t.replace('<aux name="Other"><eqn>1</eqn>', '<aux name="Other">'), "has no equation"),
    (lambda t: t.replace("<model>", "<!--").replace("</model>", "-->"), "no <model> element"),
])
def test_model_mistakes_are_input_errors_naming_the_file(tmp_path, change, message):
    folder = project(tmp_path, change(model_text()))
    err = one_error(folder, "run", folder / "model.xmile")
    assert message in err and str(folder / "model.xmile") in err


def test_utf16_and_byte_order_marks_are_read(tmp_path):
    folder = project(tmp_path)
    (folder / "u16.xmile").write_bytes(model_text().replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16"))
    assert sdvag_main("run", folder / "u16.xmile")[0] == 0
    (folder / "r.csv").write_bytes("\ufefftime,value\n0,0.1\n4,0.2\n".encode("utf-8"))
    toml = '\ufeffmodel = "model.xmile"\n[inputs]\nRate = { csv = "r.csv" }\n'
    (folder / "bom.toml").write_bytes(toml.encode("utf-8"))
    code, out, err = sdvag_main("run", folder / "bom.toml")
    assert code == 0, err


def test_keys_are_printed_escaped(tmp_path):
    folder = project(tmp_path)
    text = '[constants]\n"A\\nerror: fake line" = 1\n"\\u001b[2J\\u001b[31mB" = 2\n'
    err = one_error(folder, "run", scenario(folder, text))
    assert len(err.splitlines()) == 2 and "\x1b" not in err and "\\x1b[31mB" in err
    assert not any(line.startswith("error: fake") for line in err.splitlines())


def test_an_inputs_path_to_another_file_does_not_print_its_content(tmp_path):
    folder = project(tmp_path)
    (folder / "secret.txt").write_text("password=hunter2;token=abc\nmore\n")
    err = one_error(folder, "run", scenario(folder, '[inputs]\nRate = { csv = "secret.txt" }\n'))
    assert "hunter2" not in err and "has no column 'time'" in err
    (folder / "cols.csv").write_text("year,amount\n0,1\n")
    assert "(columns: year, amount)" in one_error(folder, "run", scenario(folder, '[inputs]\nRate = { csv = "cols.csv" }\n'))


@pytest.mark.skipif(not __import__("importlib").util.find_spec("simlin"), reason="needs the engine extra")
def test_export_compares_at_the_saved_times(tmp_path):
    folder = project(tmp_path, model_text().replace("<dt>0.5</dt>", "<dt>0.5</dt><save_step>1</save_step>"))
    code, _, err = sdvag_main("export", folder / "model.xmile", "--out", tmp_path / "m.mdl")
    assert code == 0, err
    assert (tmp_path / "m.mdl").read_text().count("Adopters") >= 1
