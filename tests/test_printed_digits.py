"""Printed digits (photographed or scanned) read by the book's MNIST network.

The set is rendered at test time, deterministically (seed 12): 8 TrueType fonts that
matplotlib ships, 3 sizes (24, 60, 160 px), dark-on-light and light-on-dark, random
margins, ink and paper levels, a blur like a lens or scanner, and (the "photo" set)
sensor noise and uneven lighting: 480 images per set.

Measured with the book's ch03 network (784-50-100-10, 0.9352 on the MNIST test split):

| set   | before (median cut) | after (Otsu, specks, stroke weight) |
|-------|---------------------|-------------------------------------|
| clean | 0.754               | 0.838                               |
| photo | 0.096               | 0.812                               |

Per font, photo set, after: DejaVuSans 0.85, -Bold 0.78, -Oblique 0.85, Serif 0.78,
SansMono 0.82, STIXGeneral 0.90, cmr10 0.68, cmss10 0.83 (before: 0.05 to 0.15).
What is left wrong is mostly printed 6s and 9s (read as 5 and 8/3) and 4s with a
closed top: shapes MNIST's handwriting rarely has.

The assertions keep the "after" levels minus a margin of 0.03, and hand-drawn digits
(conftest's draw_digit, 120 variants) at the 120/120 they had before the change.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from dlzero_cli.imaging import to_model_input

FONTS = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSans-Oblique.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSansMono.ttf",
    "STIXGeneral.ttf",
    "cmr10.ttf",
    "cmss10.ttf",
)
SIZES = (24, 60, 160)
MARGIN = 0.03
# (width, height, stroke, dx, dy): thumbnails to photos, hairline to bold, off-centre.
HAND_DRAWN = [(200, 300, 18, 0, 0), (60, 80, 6, 5, -3), (500, 400, 40, -60, 20),
              (100, 120, 4, 0, 0), (300, 300, 50, 10, 10), (40, 40, 3, 0, 0)]  # fmt: skip


def font_dir() -> Path:
    matplotlib = pytest.importorskip("matplotlib")
    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def render(digit: int, font_path: Path, size: int, dark_on_light: bool, photo: bool, rng):
    """One printed digit as float grayscale 0..255, like a crop of a photo or a scan."""
    from PIL import Image, ImageDraw, ImageFilter, ImageFont

    font = ImageFont.truetype(str(font_path), size)
    left, top, right, bottom = font.getbbox(str(digit))
    width, height = right - left, bottom - top
    margin_x = int(width * rng.uniform(0.4, 1.5)) + 4
    margin_y = int(height * rng.uniform(0.3, 1.0)) + 4
    paper, ink = rng.uniform(180, 245), rng.uniform(10, 80)
    if not dark_on_light:
        paper, ink = 255 - paper, 255 - ink
    image = Image.new("L", (width + 2 * margin_x, height + 2 * margin_y), int(paper))
    ImageDraw.Draw(image).text((margin_x - left, margin_y - top), str(digit), font=font,
                               fill=int(ink))  # fmt: skip
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2) * size / 60))
    pixels = np.asarray(image, dtype=np.float64)
    if photo:
        pixels = pixels + rng.normal(0, 8, pixels.shape)  # sensor noise, paper grain
        pixels += np.linspace(-15, 15, pixels.shape[1])[None, :]  # light from one side
    return np.clip(pixels, 0, 255)


def printed_set(photo: bool):
    rng = np.random.default_rng(12)
    fonts = font_dir()
    return [
        (font, digit, render(digit, fonts / font, size, dark, photo, rng))
        for font in FONTS
        for size in SIZES
        for dark in (True, False)
        for digit in range(10)
    ]


@pytest.fixture(scope="module")
def book_model(tmp_path_factory, cli_in):
    """The book's ch03 network, imported once for this module (as conftest's
    shared_data finds the weights: $DLZERO_SHARED_DATA or ../shared/data)."""
    from dlzero_cli.runs.folder import RunFolder

    shared = os.environ.get("DLZERO_SHARED_DATA")
    root = Path(shared) if shared else Path(__file__).resolve().parents[2] / "shared" / "data"
    weights = root / "book" / "ch03_sample_weight.pkl"
    if not weights.exists():
        pytest.skip(f"needs {weights}; set DLZERO_SHARED_DATA to the shared data folder")
    cli = cli_in(tmp_path_factory.mktemp("runs"))
    result = cli("import", "book", str(weights), "--config", "book-ch03-sample-weight")
    assert result.exit_code == 0, result.stderr
    return RunFolder.find(str(cli.latest_run())).read_model()


def accuracy(model, images, labels) -> float:
    x = np.stack([to_model_input(g, (1, 28, 28), 255.0, "auto", "digit") for g in images])
    return float(np.mean(model.class_scores(x).argmax(axis=1) == np.array(labels)))


@pytest.mark.slow
@pytest.mark.parametrize(("photo", "reached"), [(False, 0.838), (True, 0.812)])
def test_printed_digits_are_read_at_the_measured_level(book_model, photo, reached):
    samples = printed_set(photo)
    fonts = {}
    for font, digit, image in samples:
        fonts.setdefault(font, ([], []))
        fonts[font][0].append(image)
        fonts[font][1].append(digit)
    per_font = {font: accuracy(book_model, *pair) for font, pair in fonts.items()}
    overall = float(np.mean(list(per_font.values())))  # every font has 60 samples
    assert overall >= reached - MARGIN, per_font
    assert min(per_font.values()) >= 0.5, per_font  # no font is left behind


@pytest.mark.slow
def test_hand_drawn_digits_did_not_get_worse(book_model, draw_digit):
    images, labels = [], []
    for digit in range(10):
        for width, height, stroke, dx, dy in HAND_DRAWN:
            for paper, ink in ((255, 0), (0, 255)):
                drawn = draw_digit(digit, width, height, stroke, dx, dy, paper=paper, ink=ink)
                images.append(np.asarray(drawn, dtype=np.float64))
                labels.append(digit)
    assert accuracy(book_model, images, labels) == 1.0  # 120 of 120, before and after


def test_noise_and_uneven_light_are_not_taken_for_ink(draw_digit):
    """The photo conditions that broke the fixed 10% cut: the digit's box is found."""
    rng = np.random.default_rng(5)
    strokes = np.asarray(draw_digit(1, 120, 160, 10), dtype=np.float64) < 128
    paper = 200 + rng.normal(0, 8, strokes.shape) + np.linspace(-15, 15, 120)[None, :]
    photo = np.clip(np.where(strokes, 40.0, paper), 0, 255)
    image = to_model_input(photo, (1, 28, 28), 255.0, "auto", "one")[0]
    ink_cols = np.flatnonzero(image.max(axis=0) > 0)
    assert ink_cols[-1] - ink_cols[0] + 1 <= 12  # a 1 is narrow; noise would fill 20 columns
    assert image[:, :4].max() == 0 and image[:, -4:].max() == 0
