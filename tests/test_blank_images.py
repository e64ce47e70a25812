"""Pictures with no ink at all (one colour, transparent, a single pixel) are one
`blank image` line each, after the good ones, never a traceback."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from dlzero_cli.errors import InputError
from dlzero_cli.imaging import to_model_input


@pytest.mark.parametrize("shade", [0.0, 255.0, 128.0])
@pytest.mark.parametrize("size", [(1, 1), (40, 30), (20, 3000)])
def test_a_picture_of_one_shade_is_blank(shade, size):
    with pytest.raises(InputError, match="x: blank image: no ink found"):
        to_model_input(np.full(size, shade), (1, 28, 28), 255, "auto", "x")


def test_blank_pictures_in_a_folder_are_errors_after_the_good_ones(cli, tmp_path, draw_digit):
    assert cli("train", "--epochs", "5", "--quiet").exit_code == 0
    folder = tmp_path / "pictures"
    folder.mkdir()
    draw_digit(7, 100, 150, 10).save(folder / "a.png")
    Image.new("L", (60, 80), 255).save(folder / "white.png")
    Image.new("RGBA", (60, 80), (0, 0, 0, 0)).save(folder / "transparent.png")
    Image.new("L", (1, 1), 0).save(folder / "z-dot.png")
    result = cli("predict", "latest", str(folder), "--json")
    assert result.exit_code == 1
    assert [p["input"] for p in json.loads(result.stdout)] == [str(folder / "a.png")]
    errors = result.stderr.splitlines()
    assert len(errors) == 3 and "Traceback" not in result.output
    assert all("blank image: no ink found" in line for line in errors), errors
