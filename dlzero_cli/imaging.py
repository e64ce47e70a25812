"""Turning a picture of a digit into the input an MNIST- or digits-trained model expects.

MNIST was made like this: grayscale, white ink on black, the digit size-normalised to
fit a 20x20 box with its aspect ratio kept, then placed in 28x28 so that its centre of
mass sits at the centre. The UCI digits were made from 32x32 binary bitmaps whose 4x4
blocks were counted into 8x8 values 0..16. `to_model_input` repeats these steps on
any photo or drawing, so a digit written on paper meets the model as its training data
did. Pillow decodes the files and does the resampling.
"""

from __future__ import annotations

import io
import re
import struct
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from dlzero_cli.errors import InputError, describe_exception

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
PILLOW_FORMATS = ("PNG", "JPEG", "BMP", "GIF")  # Pillow tries no other decoder on our inputs
# The largest picture dlzero decodes, counted as width x height from the file's header
# before any pixel is decoded. 40 megapixels holds an A4 page scanned at 600 dpi
# (4960 x 7016 = 34.8 MP) and any ordinary phone or camera photo (12-24 MP); a 1-bit
# PNG of 14 KB can claim 49 MP (7000 x 7000) and would decode to gigabytes.
MAX_PIXELS = 40_000_000
# Larger pictures are shrunk (averaging boxes of pixels) to at most this side before
# the digit is looked for: a 28x28 input needs no more, and memory stays small.
WORKING_SIDE = 1024
INVERT_CHOICES = ("auto", "yes", "no")
# Finding the ink (ink_on_black): the smoothing before Otsu's threshold, in pixels; the
# least ink-paper contrast (of 255) that is a digit; parts smaller than SPECK x the
# largest are specks; connected parts are labelled at most LABEL_SIDE pixels a side.
SMOOTHING = 1.0
MIN_CONTRAST = 12.0
SPECK = 0.1
LABEL_SIDE = 256
# Stroke weight: MNIST's digits have strokes about 2.6 pixels wide in 28x28 (the median
# of 2 x area / perimeter over the test set); thinner strokes (printed digits) are
# thickened to it.
MNIST_STROKE = 2.6
SUPERSAMPLE = 4
MAX_THICKENING_STEPS = 4


def check_pixel_count(width: int, height: int, name: str) -> None:
    """Refuse a picture whose area (not its longer side) is above MAX_PIXELS."""
    if width * height > MAX_PIXELS:
        raise InputError(
            f"{name}: {width}x{height} is {width * height:,} pixels, more than the "
            f"{MAX_PIXELS:,} (40 megapixels) dlzero decodes; shrink or crop the picture"
        )


def _too_many_pixels(name: str, pillow_message: str) -> str:
    """Our line for a picture Pillow refused at open as a decompression bomb (its
    message says "Image size (N pixels) exceeds limit of L pixels", not the sides)."""
    found = re.search(r"\((\d+) pixels\)", pillow_message)
    pixels = int(found[1]) if found else None
    if pixels is not None and pixels <= MAX_PIXELS:  # this process lowered Pillow's limit
        return f"{name}: {pixels:,} pixels, more than Pillow's limit in this program"
    said = f"{pixels:,} pixels" if pixels is not None else "too many pixels"
    return (
        f"{name}: {said}, more than the {MAX_PIXELS:,} (40 megapixels) dlzero decodes; "
        "shrink or crop the picture"
    )


def open_gray(source: Path | bytes, name: str) -> np.ndarray:
    """An image file (or its bytes) as float64 grayscale 0..255; transparency -> white.

    The size in the header is checked against MAX_PIXELS before decoding (Pillow opens
    lazily). Pillow's own limit (Image.MAX_IMAGE_PIXELS, far above ours by default) is
    left as it is: it is process-wide, and changing it would race other threads. Its
    warning is silenced here (none reaches the terminal), and its error, raised at open
    for a header past twice its limit, becomes our line.
    Pictures with a side above WORKING_SIDE are shrunk by averaging.
    """
    from PIL import Image, UnidentifiedImageError

    if isinstance(source, bytes) and not source:
        raise InputError(f"{name}: empty: no image data")
    try:
        with warnings.catch_warnings():
            # Pillow's warnings (bombs, corrupt EXIF, truncated chunks) are advice to a
            # programmer: the user gets the picture or one error line from us instead.
            warnings.simplefilter("ignore")
            stream = source if isinstance(source, Path) else io.BytesIO(source)
            with Image.open(stream, formats=PILLOW_FORMATS) as image:
                check_pixel_count(image.width, image.height, name)
                gray = _decoded_gray(image)
    except Image.DecompressionBombError as exc:
        raise InputError(_too_many_pixels(name, str(exc))) from None
    except UnidentifiedImageError:
        raise InputError(
            f"{name}: not a readable image (not a PNG, JPEG, BMP or GIF file Pillow can decode)"
        ) from None
    except (
        OSError,
        ValueError,
        SyntaxError,
        EOFError,
        struct.error,
    ) as exc:
        raise InputError(f"{name}: not a readable image ({describe_exception(exc)})") from None
    if gray.size == 0:
        raise InputError(f"{name}: the image is empty")
    return gray


def _decoded_gray(image) -> np.ndarray:  # noqa: ANN001  (a PIL.Image.Image)
    from PIL import Image

    image.seek(0)  # the first frame of a GIF
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    gray = image.convert("L")
    factor = -(-max(gray.size) // WORKING_SIDE)  # ceiling division
    if factor > 1:
        gray = gray.reduce(factor)
    return np.asarray(gray, dtype=np.float64)


def ink_on_black(gray: np.ndarray, invert: str) -> np.ndarray:
    """Bright ink on a zero background, 0..1, whatever the picture's polarity and lighting.

    `auto` inverts when the border is lighter than mid-gray (dark ink on paper). Ink is
    told from paper by Otsu's threshold on a lightly smoothed copy (so sensor noise and
    paper grain do not count as ink), specks much smaller than the digit are dropped,
    and the ink is scaled so that a typical stroke pixel is 1, as in MNIST.
    """
    if invert == "auto":
        invert = "yes" if np.median(_border(gray)) > 127 else "no"
    ink = 255.0 - gray if invert == "yes" else gray.copy()
    smooth = _blur(ink, SMOOTHING)
    threshold = otsu_threshold(smooth)
    if threshold is None:  # one shade only: a blank (or single-colour) picture
        raise InputError("blank image: no ink found")
    mask = smooth > threshold
    # Ink is what the paper is not: a threshold that puts most of the border on the ink
    # side found no digit on a background (or the polarity was forced the wrong way).
    if _border(mask).mean() > 0.5 or not mask.any():
        raise InputError("blank image: no ink found")
    mask = main_components(mask)
    paper = np.median(ink[~mask]) if not mask.all() else 0.0
    stroke = np.median(ink[mask])
    if stroke - paper < MIN_CONTRAST:
        raise InputError("blank image: no ink found")
    out = np.clip((ink - paper) / (stroke - paper), 0.0, 1.0)
    out[~_grow(mask)] = 0.0  # specks and paper outside the digit's strokes and their rims
    return out


def _border(image: np.ndarray) -> np.ndarray:
    return np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    from PIL import Image, ImageFilter

    pillow = Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))
    return np.asarray(pillow.filter(ImageFilter.GaussianBlur(sigma)), dtype=np.float64)


def _grow(mask: np.ndarray) -> np.ndarray:
    """`mask` and its 8 neighbours: keeps a stroke's anti-aliased rim."""
    padded = np.pad(mask, 1)
    height, width = mask.shape
    grown = np.zeros_like(mask)
    for dy in range(3):
        for dx in range(3):
            grown |= padded[dy : dy + height, dx : dx + width]
    return grown


def otsu_threshold(image: np.ndarray) -> float | None:
    """Otsu's threshold of a 0..255 image (the cut that best separates two classes of
    values); None when the image is flat."""
    counts = np.bincount(np.clip(image, 0, 255).astype(np.uint8).ravel(), minlength=256)
    levels = np.arange(256, dtype=np.float64)
    weight = np.cumsum(counts).astype(np.float64)
    total = weight[-1]
    mass = np.cumsum(counts * levels)
    below, above = weight[:-1], total - weight[:-1]
    valid = (below > 0) & (above > 0)
    if not valid.any():
        return None
    mean_below = np.where(valid, mass[:-1] / np.where(valid, below, 1), 0)
    mean_above = np.where(valid, (mass[-1] - mass[:-1]) / np.where(valid, above, 1), 0)
    between = np.where(valid, below * above * (mean_below - mean_above) ** 2, -1.0)
    return float(np.argmax(between)) + 0.5


def main_components(mask: np.ndarray) -> np.ndarray:
    """`mask` without the 8-connected parts smaller than SPECK of the largest one.

    Labelled on a copy shrunk (by max-pooling, so thin strokes stay joined) to at most
    LABEL_SIDE pixels a side: the cost stays small whatever the picture's size.
    """
    factor = max(1, -(-max(mask.shape) // LABEL_SIDE))
    small = _max_pool(mask, factor)
    labels, sizes = _label(small)
    if len(sizes) <= 1:
        return mask
    keep = np.zeros(len(sizes) + 1, dtype=bool)
    keep[1:] = sizes >= SPECK * sizes.max()
    kept = np.repeat(np.repeat(keep[labels], factor, axis=0), factor, axis=1)
    return mask & kept[: mask.shape[0], : mask.shape[1]]


def _max_pool(mask: np.ndarray, factor: int) -> np.ndarray:
    if factor == 1:
        return mask
    height, width = mask.shape
    padded = np.zeros((-(-height // factor) * factor, -(-width // factor) * factor), bool)
    padded[:height, :width] = mask
    return padded.reshape(padded.shape[0] // factor, factor, -1, factor).any(axis=(1, 3))


def _label(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """8-connected components: labels (0 = background, 1..n) and each one's size."""
    labels = np.zeros(mask.shape, dtype=np.int32)
    height, width = mask.shape
    sizes = []
    for start in zip(*np.nonzero(mask), strict=True):
        if labels[start]:
            continue
        label = len(sizes) + 1
        labels[start] = label
        stack, size = [start], 0
        while stack:
            y, x = stack.pop()
            size += 1
            for ny in (y - 1, y, y + 1):
                for nx in (x - 1, x, x + 1):
                    if 0 <= ny < height and 0 <= nx < width and mask[ny, nx] and not labels[ny, nx]:
                        labels[ny, nx] = label
                        stack.append((ny, nx))
        sizes.append(size)
    return labels, np.array(sizes)


def crop_to_ink(ink: np.ndarray) -> np.ndarray:
    rows = np.flatnonzero(ink.any(axis=1))
    cols = np.flatnonzero(ink.any(axis=0))
    return ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def fit_box(ink: np.ndarray, box: int) -> np.ndarray:
    """Resize so the longer side is `box` pixels, keeping the aspect ratio."""
    from PIL import Image

    height, width = ink.shape
    scale = box / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    image = Image.fromarray((ink * 255).astype(np.uint8))
    return np.asarray(image.resize(size, Image.Resampling.LANCZOS), dtype=np.float64) / 255.0


def stroke_width(ink: np.ndarray) -> float:
    """Typical stroke width in pixels: 2 x area / perimeter of the ink above 0.5 (for a
    long stroke of width w, area = w x length and the perimeter is about 2 x length)."""
    mask = ink > 0.5
    padded = np.pad(mask, 1)
    inner = mask & padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    rim = int((mask & ~inner).sum())
    return 2.0 * mask.sum() / rim if rim else 0.0


def thicken_strokes(ink: np.ndarray, target: float) -> np.ndarray:
    """Grey dilation of `ink` until its strokes are about `target` pixels wide.

    Each 3x3 step widens a stroke by about 2 pixels; at most MAX_THICKENING_STEPS.
    Strokes wider than `target` are left alone: thinning bold hand-drawn digits closed
    their loops (an 8 became two dots) and lost some that were read right before.
    """
    from PIL import Image, ImageFilter

    steps = int(np.clip(round((target - stroke_width(ink)) / 2), 0, MAX_THICKENING_STEPS))
    image = Image.fromarray((ink * 255).astype(np.uint8))
    for _ in range(steps):
        image = image.filter(ImageFilter.MaxFilter(3))
    return np.asarray(image, dtype=np.float64) / 255.0


def shrink(ink: np.ndarray, factor: int) -> np.ndarray:
    """Average factor x factor blocks (padding with background): anti-aliased edges."""
    height, width = ink.shape
    rows, cols = -(-height // factor) * factor, -(-width // factor) * factor
    padded = np.zeros((rows, cols))
    top, left = (rows - height) // 2, (cols - width) // 2
    padded[top : top + height, left : left + width] = ink
    return padded.reshape(rows // factor, factor, cols // factor, factor).mean(axis=(1, 3))


def place(ink: np.ndarray, size: int, by_mass: bool) -> np.ndarray:
    """Paste `ink` into a size x size canvas, centred by centre of mass or bounding box."""
    canvas = np.zeros((size, size))
    height, width = ink.shape
    if by_mass and ink.sum() > 0:
        rows, cols = np.indices(ink.shape)
        cy, cx = (rows * ink).sum() / ink.sum(), (cols * ink).sum() / ink.sum()
    else:
        cy, cx = (height - 1) / 2, (width - 1) / 2
    top = int(round((size - 1) / 2 - cy))
    left = int(round((size - 1) / 2 - cx))
    top = min(max(top, 0), size - height)
    left = min(max(left, 0), size - width)
    canvas[top : top + height, left : left + width] = np.clip(ink, 0, 1)
    return canvas


def mnist_style(ink: np.ndarray, pixel_max: float) -> np.ndarray:
    """20x20 box, centre of mass at the centre of 28x28, values 0..pixel_max.

    The digit is fitted at SUPERSAMPLE times that size first, thin strokes thickened
    to MNIST's typical width there, then block-averaged down to 20x20.
    """
    big = fit_box(crop_to_ink(ink), 20 * SUPERSAMPLE)
    big = thicken_strokes(big, MNIST_STROKE * SUPERSAMPLE)
    return place(shrink(big, SUPERSAMPLE), 28, by_mass=True) * pixel_max


def digits_style(ink: np.ndarray, pixel_max: float) -> np.ndarray:
    """32x32 binary bitmap, 4x4 blocks counted: 8x8 values 0..16 (scaled to pixel_max)."""
    bitmap = place(fit_box(crop_to_ink(ink), 32), 32, by_mass=False) >= 0.5
    counts = bitmap.reshape(8, 4, 8, 4).sum(axis=(1, 3))
    return counts * (pixel_max / 16.0)


def plain_resize(ink: np.ndarray, shape: tuple[int, int], pixel_max: float) -> np.ndarray:
    from PIL import Image

    image = Image.fromarray((ink * 255).astype(np.uint8))
    resized = image.resize((shape[1], shape[0]), Image.Resampling.LANCZOS)
    return np.asarray(resized, dtype=np.float64) / 255.0 * pixel_max


# How each image size the models know was made; other sizes are resized as they are.
STYLES: dict[tuple[int, int], Callable[[np.ndarray, float], np.ndarray]] = {
    (28, 28): mnist_style,
    (8, 8): digits_style,
}


def to_model_input(
    gray: np.ndarray, input_shape: tuple[int, ...], pixel_max: float, invert: str, name: str
) -> np.ndarray:
    """A grayscale picture -> one sample of `input_shape` in the dataset's raw scale."""
    if len(input_shape) != 3 or input_shape[0] != 1:
        shape = "x".join(map(str, input_shape))
        raise InputError(f"{name}: this model takes {shape} inputs, not images")
    try:
        ink = ink_on_black(gray, invert)
    except InputError as exc:
        raise InputError(f"{name}: {exc}") from None
    hw = (input_shape[1], input_shape[2])
    style = STYLES.get(hw)
    image = style(ink, pixel_max) if style else plain_resize(ink, hw, pixel_max)
    return image.reshape(input_shape)
