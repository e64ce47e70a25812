"""Every config error line, word for word, against the lines recorded before the config
was split into a package (tests/fixtures/config-errors.json): a refactoring of the schema
or the layer declarations must not change a single message."""

from __future__ import annotations

import json

import pytest

from dlzero_cli.config import load_config
from dlzero_cli.errors import ConfigError


def recorded_cases(fixtures):
    return json.loads((fixtures / "config-errors.json").read_text(encoding="utf-8"))


def test_every_recorded_config_gives_its_recorded_error_line(fixtures, tmp_path):
    cases = recorded_cases(fixtures)
    assert len(cases) > 60
    mismatches = {}
    for name, case in cases.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(case["config"], encoding="utf-8")
        try:
            load_config(str(path))
            got = None
        except ConfigError as exc:
            got = str(exc).replace(str(path), "CONFIG")
        if got != case["error"]:
            mismatches[name] = (case["error"], got)
    assert not mismatches, json.dumps(mismatches, indent=1)


@pytest.mark.parametrize("name", ["layer-0", "layer-22", "ends-dense-9", "list-with-bn-key"])
def test_the_recorded_lines_are_real_errors(fixtures, name):
    """The fixture itself is not empty where it matters."""
    assert recorded_cases(fixtures)[name]["error"].startswith("CONFIG:")
