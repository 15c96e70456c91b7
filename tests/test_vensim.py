"""Vensim .mdl models through PySD's Vensim translator: run, described and refused like XMILE."""
import numpy as np
import pytest

import sdvag
from sdvag.errors import UnsupportedFeature
from sdvag.model import translate
from sdvag.model.sanitise import translation_problem

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


MACROS = FIXTURES / "foreign" / "macros.mdl"


def _filled(inflow, lifetime, t, dt=0.5):
    """Euler's stock from 0 with a constant inflow and outflow stock / lifetime."""
    return inflow * lifetime * (1 - (1 - dt / lifetime) ** (t / dt))


def test_vensim_macros_run_to_their_closed_forms():
    ds = sdvag.run(MACROS)
    t = ds["time"].values
    np.testing.assert_allclose(ds["Slow Stock"].values, _filled(10, 4, t), rtol=1e-12)
    # the second instance has its own stock: half the inflow (the other macro), lifetime 2
    np.testing.assert_allclose(ds["Fast Stock"].values, _filled(5, 2, t), rtol=1e-12)
    assert sorted(ds.data_vars) == ["Fast Stock", "Inflow", "Lifetime", "Slow Stock"]
    assert sdvag.run(MACROS, set={"Lifetime": 8})["Slow Stock"].values[1] == pytest.approx(5.0)


def test_what_pysd_gets_wrong_inside_a_macro_is_refused_too(tmp_path):
    path = tmp_path / "random_macro.mdl"
    path.write_text(MACROS.read_text().replace("input * factor", "input * factor * RANDOM UNIFORM(0, 1, 3)"))
    with pytest.raises(UnsupportedFeature, match="RANDOM UNIFORM") as caught:
        sdvag.run(path)
    assert "'SCALED'" in str(caught.value)


def test_a_macro_named_like_the_models_translation_is_refused(tmp_path):
    path = tmp_path / "clash.mdl"
    path.write_text(MACROS.read_text().replace("SCALED", "MODEL"))
    proc = cli("run", path)
    assert proc.returncode == 3 and proc.stderr.count("\n") == 1
    assert "cannot simulate the Vensim macro 'MODEL' (its name, reduced to a file name, is empty or that " \
        "of the model" in proc.stderr


def test_every_macro_file_is_checked_and_checksummed_in_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SDVAG_CACHE_DIR", str(tmp_path / "cache"))
    _, model_py = translate.compiled(MACROS)
    entry = model_py.parent
    assert sorted(p.name for p in entry.glob("*.py")) == ["filling.py", "model.py", "scaled.py"]
    assert translate.entry_problem(entry) is None
    marker = tmp_path / "PWNED"
    macro = entry / "filling.py"
    good = macro.read_bytes()
    macro.write_text(macro.read_text() + f"\n__import__('os').system('touch {marker}')\n")
    assert "do not match their checksums" in translate.entry_problem(entry)
    (entry / translate.CHECKSUM).write_text(translate._checksums(translate._generated(entry)))
    assert translate.entry_problem(entry).startswith("filling.py: ")  # the syntax check still refuses it
    copy = tmp_path / "copy.mdl"  # a path this process has not loaded yet: read from the cache
    copy.write_bytes(MACROS.read_bytes())
    ds = sdvag.run(copy)  # rebuilt, not imported
    assert not marker.exists() and macro.read_bytes() == good
    np.testing.assert_allclose(ds["Slow Stock"].values, _filled(10, 4, ds["time"].values), rtol=1e-12)


def test_except_equations_and_subscripted_lookups_run_to_their_closed_forms():
    # PySD writes EXCEPT as a mask (`xr.ones_like(value, dtype=bool)`) and a subscripted lookup's
    # further points as `lookup.add(...)` statements: both pass the syntax check
    ds = sdvag.run(FIXTURES / "foreign" / "except_lookups.mdl")
    t = ds["time"].values
    for region, growth in (("North", 0.3), ("East", 0.1)):
        np.testing.assert_allclose(ds[f"Stock[{region}]"].values, (1 + 0.5 * growth) ** (t / 0.5), rtol=1e-12)
    np.testing.assert_allclose(ds["Stock[South]"].values, 2 * 0.75 ** (t / 0.5), rtol=1e-12)
    np.testing.assert_allclose(ds["Looked Up[North]"].values, t, rtol=1e-12)
    np.testing.assert_allclose(ds["Looked Up[South]"].values, 2 * t, rtol=1e-12)
    np.testing.assert_allclose(ds["Looked Up[East]"].values, 5.0)


@pytest.mark.parametrize("line", [
    "x = xr.ones_like(y, dtype=bool)\nz = bool.mro()",          # bool only as a dtype
    "x = bool(1)",
    "x = xr.ones_like(y, dtype=__import__)",
    "x = xr.ones_like(y, dtype=getattr)",
    "x = xr.ones_like(y, dtype=open)",
    "component.add(1)",                                          # .add only on a lookup
    "_hardcodedlookup_table.add(open('f'), [1], {})",
    "_hardcodedlookup_table.add([1], [1], {})\n_hardcodedlookup_table.write([1])",
    "m = Macro(_root.joinpath('../evil.py'), {}, 'evil')",
    "m = Macro('/tmp/evil.py', {}, 'evil')",
    "m = Macro(_root.joinpath('model.py'), {}, 'model')",
    "m = Macro(Path('evil.py'), {}, 'evil')",
    "_params = {'input': 'open'}\nx = open('f')",               # parameters never name builtins
    "_params = {'input': '__import__'}\nx = __import__('os')",
])
def test_the_syntax_check_still_refuses_the_neighbours_of_what_it_accepts(line):
    source = (FIXTURES / "foreign" / "except_lookups.mdl")
    _, model_py = translate.compiled(source)
    text = model_py.read_text().replace("\nfrom pysd import Component",
                                        "\nfrom pysd import Component\nfrom pysd.py_backend.model import Macro")
    assert translation_problem(text) is None and "dtype=bool" in text and "_hardcodedlookup_table.add(" in text
    assert translation_problem(text + "\n" + line + "\n") is not None


def test_stocks_pysd_cannot_stack_into_its_state_are_refused_before_the_run(tmp_path):
    # SDXorg data_from_other_model: PySD's run fails on np.array of its stocks' states
    stacked = FIXTURES / "foreign" / "stacked_stocks.mdl"
    proc = cli("run", stacked, "--out", tmp_path / "out")
    assert proc.returncode == 3 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "cannot simulate stocks whose arrays PySD cannot stack into its state" in proc.stderr
    assert "in variable 'Deep'" in proc.stderr and not (tmp_path / "out").exists()
    # knock-out: the same stock over one dimension less is accepted and runs to its closed form
    flat = tmp_path / "flat.mdl"
    flat.write_text(stacked.read_text().replace("[Region,Left]", "[Region]").replace(
        "Deep[Region,Right]= INTEG (\n\t2,\n\t\t0)", "Unused= INTEG (\n\t2,\n\t\t0)"))
    ds = sdvag.run(flat)
    np.testing.assert_allclose(ds["Deep[East]"].values, ds["time"].values)


@pytest.mark.parametrize("arguments, feature", [
    ("1, 0, 0", "GET TIME VALUE relative to the initial time (relativeto 1, which PySD does not implement)"),
    ("2, 0, 0", "GET TIME VALUE of the computer's clock (relativeto 2: not reproducible)"),
    ("0, 0, 3", "GET TIME VALUE in calendar units (measure 3; PySD implements measure 0"),
    ("Lifetime - 4, 0, 0", "GET TIME VALUE with a computed relativeto or measure"),
])
def test_get_time_value_forms_pysd_lacks_are_refused_before_the_run(tmp_path, arguments, feature):
    path = tmp_path / "clock.mdl"
    path.write_text(DECAY.read_text().replace("Stock / Lifetime", f"Stock / Lifetime + 0 * GET TIME VALUE({arguments})"))
    proc = cli("run", path, "--out", tmp_path / "out")
    assert proc.returncode == 3 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert feature in proc.stderr and "in variable 'Outflow'" in proc.stderr


def test_get_time_value_of_the_models_own_time_runs_to_its_closed_form(tmp_path):
    path = tmp_path / "clock.mdl"
    path.write_text(DECAY.read_text().replace("Stock / Lifetime", "GET TIME VALUE(0, 1.5, 0)"))
    ds = sdvag.run(path)
    np.testing.assert_allclose(ds["Outflow"].values, ds["time"].values + 1.5)


@pytest.mark.parametrize("payload", [
    "__import__('os').system('touch {marker}')",
    "len([Path('{marker}').touch()])",  # names the syntax check allows: only leaving comments out stops it
])
@pytest.mark.parametrize("comment", ["A macro without a stock: its input times a factor.",  # in a macro's file
                                     "Steady inflow."])                                    # in the model's
def test_python_in_a_mdl_comment_never_runs(tmp_path, payload, comment):
    # PySD writes a .mdl comment unescaped into a docstring, where this one would become code:
    # PySD translates the model without its comments; sdvag still reads them
    marker = tmp_path / "PWNED"
    path = tmp_path / "evil.mdl"
    text = f'a""" * {payload.format(marker=marker)} + """b'
    path.write_text(MACROS.read_text().replace(comment, text))
    proc = cli("run", path, "--out", tmp_path / "out")
    assert proc.returncode == 0 and not marker.exists(), proc.stderr
    owner = "SCALED" if "macro" in comment else "Inflow"
    info = sdvag.read_model(path)
    assert owner not in info.variables or info.variables[owner].doc == text


def test_the_syntax_check_alone_refuses_pysds_raw_translation_of_a_mdl_payload(tmp_path):
    """Defence in depth: translated with its comments, the payload is code in model.py, and the
    check run before every import refuses it."""
    import warnings

    from pysd.builders.python.python_model_builder import ModelBuilder
    from pysd.translators.vensim.vensim_file import VensimFile

    raw = tmp_path / "raw.mdl"
    raw.write_text(MACROS.read_text().replace("Steady inflow.", 'a""" * __import__("os").getpid() + """b'))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = VensimFile(str(raw))
        parsed.parse()
        ModelBuilder(parsed.get_abstract_model()).build_model()  # writes raw.py, imports nothing
    source = raw.with_suffix(".py").read_text()
    assert '* __import__("os")' in source
    assert "uses the name __import__" in translation_problem(source)


def test_a_dimension_name_that_could_leave_pysds_quotes_is_refused(tmp_path):
    # PySD writes a dimension's name between quotes of its own (`_subscript_dict['Region']`)
    path = tmp_path / "names.mdl"
    path.write_text(DECAY.read_text().replace("Region", "Reg'ion"))
    proc = cli("run", path)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "the dimension name Reg'ion holds a quote" in proc.stderr
    # a variable's name may hold them: PySD writes it with repr()
    quoted = tmp_path / "quoted.mdl"
    quoted.write_text(DECAY.read_text().replace("Lifetime", '"Life\\"time\\" \\ it\'s"'))
    ds = sdvag.run(quoted)
    assert float(ds['"Life\\"time\\" \\ it\'s"'][0]) == 4


def _pipelines(tmp_path, equations: str):
    path = tmp_path / "pipelines.mdl"
    path.write_text("{UTF-8}\n" + equations + "s = INTEG(1, 0)\n\t~\tdmnl\n\t~\t\t|\n"
                    + "".join(f"{name} = {value}\n\t~\tMonth\n\t~\t\t|\n" for name, value in
                              (("INITIAL TIME", 0), ("FINAL TIME", 3), ("TIME STEP", 0.25), ("SAVEPER", 1))))
    return path


@pytest.mark.parametrize("equations", [
    "x = DELAY FIXED(DELAY FIXED(Time, 0.25, 0), 0.25, 0)\n\t~\tdmnl\n\t~\t\t|\n",
    "y = DELAY FIXED(Time, 0.25, 0)\n\t~\tdmnl\n\t~\t\t|\nx = DELAY FIXED(y * 2, 0.25, 0)\n\t~\tdmnl\n\t~\t\t|\n",
    "y = DELAY3(Time, 1)\n\t~\tdmnl\n\t~\t\t|\nx = DELAY FIXED(y, 0.25, 0)\n\t~\tdmnl\n\t~\t\t|\n",
])
def test_a_delay_fixed_of_another_delay_is_refused(tmp_path, equations):
    # PySD moves the inner delay on before the outer one reads it: x at t=1 would be 0.75, not 0.5
    proc = cli("run", _pipelines(tmp_path, equations), "--out", tmp_path / "out")
    assert proc.returncode == 3 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "DELAY FIXED of a value that depends on another" in proc.stderr and "'x'" in proc.stderr


def test_a_delay_fixed_of_time_or_of_a_stock_runs_to_its_closed_form(tmp_path):
    ds = sdvag.run(_pipelines(tmp_path, "x = DELAY FIXED(Time, 0.5, 0)\n\t~\tdmnl\n\t~\t\t|\n"
                                        "z = DELAY FIXED(s, 0.5, 0)\n\t~\tdmnl\n\t~\t\t|\n"))
    np.testing.assert_allclose(ds["x"].values, [0, 0.5, 1.5, 2.5])
    np.testing.assert_allclose(ds["z"].values, [0, 0.5, 1.5, 2.5])
