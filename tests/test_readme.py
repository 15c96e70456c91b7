"""The README's examples are real: its scenario example validates and runs."""
import re

import sdvag

from conftest import ROOT

README = (ROOT / "README.md").read_text()


def test_scenario_example_in_the_readme_is_valid(tmp_path):
    block = re.search(r"```toml\n(.*?)```", README, re.S).group(1)
    scenarios = tmp_path / "scenarios"
    scenarios.mkdir()
    (tmp_path / "models").symlink_to(ROOT / "models")
    (scenarios / "tic_baseline.toml").write_text((ROOT / "scenarios" / "tic_baseline.toml").read_text())
    path = scenarios / "example.toml"
    path.write_text(block)
    scenario = sdvag.load_scenario(path)
    ds = sdvag.run(scenario)
    assert float(ds["Virtualisation Degree"].sel(time=2016)) == 0.9
    assert float(ds["Community Operation Effort"].sel(time=2020)) == 1.5
    assert float(ds["Land Supply"][0]) == 800


def test_quickstart_has_exactly_two_commands():
    block = re.search(r"<!-- quickstart -->\n```bash\n(.*?)```\n<!-- /quickstart -->", README, re.S).group(1)
    commands = [line for line in block.splitlines() if line.strip()]
    assert len(commands) == 2
    assert commands[0].startswith('python -m pip install -e ".[test]" && python -m sdvag ')
    assert commands[1] == "python -m pytest -q"
