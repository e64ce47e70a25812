"""predict on pictures: MNIST-style preprocessing, many input kinds, clear errors."""

from __future__ import annotations

import gzip
import io
import json
import struct
import subprocess
import sys

import numpy as np
import pytest

from dlzero_cli.errors import InputError
from dlzero_cli.imaging import open_gray, to_model_input

# (width, height, stroke, dx, dy): sizes from thumbnail to photo, thin to bold, off-centre.
VARIANTS = [(200, 300, 18, 0, 0), (60, 80, 6, 5, -3), (500, 400, 40, -60, 20)]


@pytest.fixture
def mnist_run(cli, shared_data):
    """A run holding the book's MNIST-trained 784-50-100-10 network."""
    weights = shared_data("book/ch03_sample_weight.pkl")
    result = cli("import", "book", str(weights), "--config", "book-ch03-sample-weight")
    assert result.exit_code == 0, result.stderr
    return cli.latest_run()


def mass_centre(image: np.ndarray) -> tuple[float, float]:
    rows, cols = np.indices(image.shape)
    return (rows * image).sum() / image.sum(), (cols * image).sum() / image.sum()


def test_mnist_style_preprocessing(tmp_path, draw_digit):
    path = tmp_path / "seven.png"
    draw_digit(7, 200, 300, 18, dx=40, dy=-30).save(path)
    sample = to_model_input(open_gray(path, "seven"), (1, 28, 28), 255.0, "auto", "seven")
    image = sample[0]
    assert sample.shape == (1, 28, 28) and image.max() == pytest.approx(255, rel=0.02)
    ink_rows = np.flatnonzero(image.max(axis=1) > 0)
    ink_cols = np.flatnonzero(image.max(axis=0) > 0)
    assert max(ink_rows[-1] - ink_rows[0], ink_cols[-1] - ink_cols[0]) + 1 <= 21  # 20x20 box
    cy, cx = mass_centre(image)
    assert abs(cy - 13.5) <= 1 and abs(cx - 13.5) <= 1
    assert image[0].max() == 0 and image[:, 0].max() == 0  # background is black


def test_light_on_dark_and_dark_on_light_give_the_same_input(tmp_path, draw_digit):
    dark_ink = to_model_input(np.asarray(draw_digit(4, 100, 120, 9), float), (1, 28, 28), 255,
                              "auto", "a")  # fmt: skip
    light_ink = to_model_input(
        np.asarray(draw_digit(4, 100, 120, 9, paper=0, ink=255), float), (1, 28, 28), 255,
        "auto", "b",
    )  # fmt: skip
    np.testing.assert_allclose(dark_ink, light_ink, atol=1e-9)
    forced = to_model_input(
        np.asarray(draw_digit(4, 100, 120, 9, paper=0, ink=255), float), (1, 28, 28), 255,
        "no", "c",
    )  # fmt: skip
    np.testing.assert_allclose(forced, light_ink, atol=1e-9)
    # Forcing the wrong polarity leaves only paper: said plainly, not guessed around.
    with pytest.raises(InputError, match="d: blank image: no ink found"):
        to_model_input(np.asarray(draw_digit(4, 100, 120, 9), float), (1, 28, 28), 255, "no", "d")


def test_digits_style_preprocessing_gives_counts_0_to_16(draw_digit):
    sample = to_model_input(np.asarray(draw_digit(0, 90, 120, 10), float), (1, 8, 8), 16, "auto",
                            "zero")  # fmt: skip
    assert sample.shape == (1, 8, 8)
    assert sample.max() <= 16 and sample.min() >= 0
    assert np.allclose(sample, np.round(sample))  # whole counts of on-pixels
    assert sample[0, :, 0].sum() < sample[0, :, 1:7].sum()


@pytest.mark.parametrize("digit", range(10))
def test_drawn_digits_are_recognised_by_the_mnist_network(
    cli, mnist_run, tmp_path, digit, draw_digit
):
    paths = []
    for width, height, stroke, dx, dy in VARIANTS:
        path = tmp_path / f"{digit}-{width}x{height}.png"
        draw_digit(digit, width, height, stroke, dx, dy).save(path)
        paths.append(str(path))
    predictions = cli.json("predict", str(mnist_run), *paths)
    assert [p["label"] for p in predictions] == [digit] * len(VARIANTS)


def test_a_photo_of_a_seven_on_grey_paper(cli, mnist_run, tmp_path, draw_digit):
    from PIL import Image

    rng = np.random.default_rng(0)
    strokes = np.asarray(draw_digit(7, 400, 600, 30), dtype=float) < 128
    paper = np.linspace(170, 220, 600)[:, None] * np.ones((1, 400)) + rng.normal(0, 6, (600, 400))
    photo = np.where(strokes, 60 + rng.normal(0, 5, strokes.shape), paper)
    path = tmp_path / "photo.jpg"
    Image.fromarray(np.clip(photo, 0, 255).astype(np.uint8)).save(path, quality=70)
    [prediction] = cli.json("predict", str(mnist_run), str(path), "--top-k", "3")
    assert prediction["label"] == 7 and len(prediction["top_k"]) == 3


def test_the_seven_at_200x300_in_every_output_format(cli, mnist_run, tmp_path, draw_digit):
    path = tmp_path / "seven.png"
    draw_digit(7, 200, 300, 18).save(path)
    [as_json] = cli.json("predict", "latest", str(path))
    assert as_json["label"] == 7 and as_json["name"] == "7"
    as_csv = cli("predict", "latest", str(path), "--csv").stdout.splitlines()
    assert as_csv[0] == "input,label,name,probability,top_k"
    assert as_csv[1].startswith(f"{path},7,7,")
    table = cli("predict", "latest", str(path)).stdout
    assert "seven.png" in table


def test_inputs_of_every_kind_and_errors_after_the_good_ones(cli, tmp_path, draw_digit):
    assert cli("train", "--epochs", "40", "--quiet").exit_code == 0
    folder = tmp_path / "pictures"
    folder.mkdir()
    draw_digit(7, 100, 150, 10).save(folder / "a.png")
    draw_digit(0, 100, 150, 10).convert("RGB").save(folder / "b.jpg")
    draw_digit(1, 100, 150, 10).save(folder / "c.bmp")
    draw_digit(4, 100, 150, 10).save(folder / "d.gif")
    (folder / "broken.png").write_bytes(b"this is not a picture")
    (folder / "notes.txt").write_text("ignored: not a supported kind")
    images = np.random.default_rng(0).integers(0, 17, (3, 8, 8)).astype(np.uint8)
    idx = bytes([0, 0, 8, 3]) + struct.pack(">3I", 3, 8, 8) + images.tobytes()
    (tmp_path / "batch-ubyte.gz").write_bytes(gzip.compress(idx))
    np.save(tmp_path / "wrong.npy", np.zeros((5, 5)))
    result = cli(
        "predict", "latest", str(folder), str(tmp_path / "batch-ubyte.gz"),
        str(tmp_path / "wrong.npy"), str(tmp_path / "missing.png"), "--json",
    )  # fmt: skip
    assert result.exit_code == 1
    names = [p["input"] for p in json.loads(result.stdout)]
    assert names == [str(folder / n) for n in ("a.png", "b.jpg", "c.bmp", "d.gif")] + [
        f"{tmp_path / 'batch-ubyte.gz'}[{i}]" for i in range(3)
    ]
    errors = result.stderr.splitlines()
    assert len(errors) == 3
    assert "broken.png: not a readable image" in errors[0]
    assert "wrong.npy: shape (5, 5) does not fit" in errors[1]
    assert "missing.png: no such file or folder" in errors[2]


@pytest.mark.slow
def test_stdin_takes_a_npy_array_or_an_image(tmp_path, draw_digit):
    env_runs = tmp_path / "runs"
    base = [sys.executable, "-m", "dlzero_cli"]
    subprocess.run([*base, "train", "--epochs", "5", "-q", "--runs-dir", str(env_runs)],
                   check=True, capture_output=True)  # fmt: skip
    buffer = io.BytesIO()
    np.save(buffer, np.full(64, 8, dtype=np.uint8))
    picture = io.BytesIO()
    draw_digit(3, 80, 100, 8).save(picture, format="PNG")
    for data in (buffer.getvalue(), picture.getvalue()):
        out = subprocess.run(
            [*base, "predict", "latest", "-", "--json", "--runs-dir", str(env_runs)],
            input=data, capture_output=True, check=True,
        )  # fmt: skip
        [prediction] = json.loads(out.stdout)
        assert prediction["input"] == "-" and 0 <= prediction["label"] <= 9


def test_an_image_for_a_model_that_takes_rows_is_one_clear_error(cli, tmp_path, draw_digit):
    assert cli("train", "xor-2-4-1", "-q").exit_code == 0
    draw_digit(1, 50, 50, 5).save(tmp_path / "one.png")
    result = cli("predict", "latest", str(tmp_path / "one.png"))
    assert result.exit_code == 1
    assert (
        result.stderr.strip()
        == f"error: {tmp_path / 'one.png'}: this model takes 2 inputs, not images"
    )


def test_train_draws_curves_png(cli):
    assert cli("train", "--epochs", "3", "-q").exit_code == 0
    assert (cli.latest_run() / "curves.png").read_bytes()[:4] == b"\x89PNG"
