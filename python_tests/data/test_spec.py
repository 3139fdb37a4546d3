"""The spec schema (phnet_cuda.data.spec): validation errors name the key, built-in specs,
scale and YAML files."""

from __future__ import annotations

import pytest
from data.helpers import tiny_spec

from phnet_cuda import data


def test_spec_errors_name_the_key(tmp_path):
    cases = [({"n": 1}, r"spec n: expected an integer >= 2, got 1"),
             ({"colour": 1}, r"unknown key\(s\) \['colour'\]"),
             ({"split": {"by": "moon"}}, r"split.by: expected one of"),
             ({"materials": {"nu": 0.5}}, r"materials.nu: must lie in \(-1, 0.5\), got 0.5"),
             ({"groups": [{"types": ["tubular_gyroid"], "vf": [0.1, 1.2]}]}, r"groups\[0\].vf: volume fractions"),
             ({"groups": [{"types": ["tubular_gyroid"], "vf": [0.1], "shapes": {"angles": [90, 75]}}]},
              r"groups\[0\].shapes.angles: expected lo <= hi")]
    for over, msg in cases:
        with pytest.raises(ValueError, match=msg):
            data.load_spec(tiny_spec(**over))
    with pytest.raises(ValueError, match="scale must lie in"):
        data.load_spec("dataset1", scale=2.0)
    with pytest.raises(ValueError, match="neither a built-in"):
        data.load_spec(str(tmp_path / "nope.yaml"))
    yml = tmp_path / "mine.yaml"
    yml.write_text("n: 8\ngroups:\n  - types: [tubular_gyroid]\n    vf: [0.2, 0.3]\n")
    spec = data.load_spec(yml)
    assert spec["name"] == "mine" and spec["groups"][0]["shapes"]["per_cell"] == 1
