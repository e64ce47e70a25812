"""predict's inputs are bounded and every bad one is one line: literal rows, .npy
headers, image sizes (the pixel limit is an area), standard input, values outside the
trained range, NaN and infinity. Exit 2 for what was typed, 1 for a bad file."""

from __future__ import annotations

import io
import math
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from numpy.lib import format as npy_format

from dlzero_cli.errors import InputError
from dlzero_cli.imaging import MAX_PIXELS, open_gray
from dlzero_cli.inputs import MAX_INPUT_VALUES, InputSpec, read_inputs, read_npy


@pytest.fixture
def xor_run(train_run):
    return train_run("xor-2-4-1")


@pytest.fixture
def mnist_run(cli, shared_data):
    weights = shared_data("book/ch03_sample_weight.pkl")
    result = cli("import", "book", str(weights), "--config", "book-ch03-sample-weight")
    assert result.exit_code == 0, result.stderr
    return cli.latest_run()


def npy_bytes(header: dict, payload: bytes = b"", version=(1, 0)) -> bytes:
    buffer = io.BytesIO()
    write = npy_format.write_array_header_1_0 if version == (1, 0) else (
        npy_format.write_array_header_2_0)  # fmt: skip
    write(buffer, header)
    return buffer.getvalue() + payload


def png_header_only(width: int, height: int, bit_depth: int = 1, colour: int = 0) -> bytes:
    """A PNG that claims width x height and holds one empty compressed row: enough for
    Pillow's header, never enough to decode."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 8)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


# ------------------------------------------------------------------ literal rows


def test_a_malformed_row_names_the_bad_value_and_exits_2(cli, xor_run):
    result = cli("predict", str(xor_run), "1.2.3,0")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: 1.2.3,0: value 1 of 2, '1.2.3', is not a number; "
        "write a row as numbers separated by commas, like 0,1"
    )
    result = cli("predict", str(xor_run), "1,,0")
    assert result.exit_code == 2 and "value 2 of 3, '(empty)', is not a number" in result.stderr


def test_a_row_of_784_values_works_on_an_mnist_model(cli, mnist_run):
    row = ",".join(["0"] * 300 + ["255"] * 184 + ["0"] * 300)
    [prediction] = cli.json("predict", str(mnist_run), row)
    assert 0 <= prediction["label"] <= 9
    assert prediction["input"].endswith("(784 values)") and len(prediction["input"]) < 60


def test_a_row_of_the_wrong_length_is_typed_input_exit_2(cli, xor_run):
    result = cli("predict", str(xor_run), "1,0,1")
    assert result.exit_code == 2
    assert "1,0,1: 3 values do not fit the model's input 2" in result.stderr


@pytest.mark.parametrize("row", ["inf,0", "0,nan", "-Infinity,1"])
def test_inf_or_nan_typed_is_exit_2(cli, xor_run, row):
    result = cli("predict", str(xor_run), "--", row, runs=False)  # `--`: a row may start with "-"
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1 and "give finite numbers" in result.stderr


def test_inf_or_nan_in_a_file_is_exit_1(cli, xor_run, tmp_path):
    np.save(tmp_path / "bad.npy", np.array([np.inf, 0.0]))
    (tmp_path / "bad.csv").write_text("nan,1\n")
    for name in ("bad.npy", "bad.csv"):
        result = cli("predict", str(xor_run), str(tmp_path / name))
        assert result.exit_code == 1, name
        assert "contains NaN or infinite values" in result.stderr


def test_a_missing_file_with_a_file_suffix_is_not_taken_for_a_row(cli, xor_run):
    result = cli("predict", str(xor_run), "1,2.png")
    assert result.exit_code == 1 and "no such file or folder" in result.stderr


# ------------------------------------------------------------------ out of range


def test_far_out_of_range_warns_once_and_answers(cli, xor_run, mnist_run):
    result = cli("predict", str(xor_run), "--json", "--", "1e300,0", "0,1", "-5,2", runs=False)
    assert result.exit_code == 0
    assert [p["input"] for p in __import__("json").loads(result.stdout)] == [
        "1e300,0", "0,1", "-5,2"]  # fmt: skip
    [line] = result.stderr.splitlines()
    assert line == (
        "warning: 1e300,0, -5,2: values outside 0..1, the range this model was trained on; "
        "predicted with them clipped to that range"
    )
    # A float32 network: 1e300 would overflow in the cast and give NaN scores.
    row = ",".join(["1e300"] * 784)
    result = cli("predict", str(mnist_run), row, "--json")
    assert result.exit_code == 0
    [prediction] = __import__("json").loads(result.stdout)
    assert all(math.isfinite(r["probability"]) for r in prediction["top_k"])
    assert "RuntimeWarning" not in result.stderr and "site-packages" not in result.stderr
    assert len(result.stderr.splitlines()) == 1 and "outside 0..255" in result.stderr


def test_in_range_inputs_give_no_warning(cli, xor_run):
    result = cli("predict", str(xor_run), "1,0", "0.5,0.25")
    assert result.exit_code == 0 and result.stderr == ""


# ------------------------------------------------------------------ .npy headers


def test_a_96_byte_npy_claiming_ten_billion_rows_is_refused_before_allocating(
    cli, mnist_run, tmp_path
):
    data = npy_bytes({"descr": "<f8", "fortran_order": False, "shape": (10**10, 784)})
    assert len(data) <= 128
    (tmp_path / "huge.npy").write_bytes(data)
    result = cli("predict", str(mnist_run), str(tmp_path / "huge.npy"))
    assert result.exit_code == 1
    assert len(result.stderr.splitlines()) == 1
    assert "huge.npy: the header claims shape (10000000000, 784)" in result.stderr


def test_npy_within_the_file_but_over_the_value_limit(tmp_path):
    rows = MAX_INPUT_VALUES // 784 + 1
    header = {"descr": "|u1", "fortran_order": False, "shape": (rows, 784)}
    data = io.BytesIO(npy_bytes(header))
    # The file "is" big enough (size claimed by the caller), the limit still holds.
    with pytest.raises(InputError, match="more than predict reads at once"):
        read_npy(data, 10**12, "big.npy")


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.array([1 + 2j, 3]), "an array of complex128"),
        (np.array(["a", "b"]), "an array of str"),
        (np.zeros(2, dtype=[("a", "<f4"), ("b", "<f4")]), "an array of records"),
        (np.array(["2020-01-01"] * 2, dtype="datetime64[D]"), "an array of datetime64"),
    ],
)
def test_npy_of_non_real_numbers_is_one_line(array, message):
    buffer = io.BytesIO()
    np.save(buffer, array)
    with pytest.raises(InputError, match=message):
        read_npy(io.BytesIO(buffer.getvalue()), len(buffer.getvalue()), "x.npy")


def test_npy_object_arrays_are_never_unpickled(tmp_path, monkeypatch):
    import pickle

    calls = []
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: calls.append(a))
    monkeypatch.setattr(pickle, "load", lambda *a, **k: calls.append(a))
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="never unpickles"):
        read_npy(io.BytesIO(buffer.getvalue()), len(buffer.getvalue()), "o.npy")
    assert calls == []


def test_npy_fortran_order_and_version_2_are_read_right():
    array = np.asfortranarray(np.arange(6, dtype="<i2").reshape(2, 3))
    data = npy_bytes({"descr": "<i2", "fortran_order": True, "shape": (2, 3)},
                     array.tobytes(order="F"), version=(2, 0))  # fmt: skip
    np.testing.assert_array_equal(read_npy(io.BytesIO(data), len(data), "f.npy"), array)


# ------------------------------------------------------------------ images


def test_the_pixel_limit_is_an_area_not_a_side(tmp_path):
    """8000x8000 (64 MP, each side under 8000) is refused; a long thin picture of the
    same longer side and a square just under the area are accepted: a limit on the
    longer side would get one of these wrong."""
    side = math.isqrt(MAX_PIXELS)
    over = png_header_only(8000, 8000)
    with pytest.raises(InputError, match=r"8000x8000 is 64,000,000 pixels, more than"):
        open_gray(over, "big.png")
    with pytest.raises(InputError, match="more than the 40,000,000"):
        open_gray(png_header_only(side + 1, side + 1), "just-over.png")
    from PIL import Image

    for width, height in ((side, side), (8000, MAX_PIXELS // 8000)):
        path = tmp_path / f"{width}x{height}.png"
        Image.new("1", (width, height), 1).save(path)
        gray = open_gray(path, path.name)  # decoded, then shrunk to the working size
        assert gray.size > 0 and max(gray.shape) <= 1024


def test_a_14_kb_7000x7000_png_is_refused_fast_and_pillow_says_nothing(tmp_path):
    from PIL import Image

    for side in (7000, 10000):
        path = tmp_path / f"{side}.png"
        Image.new("1", (side, side)).save(path)
        assert path.stat().st_size < 20_000
    command = [sys.executable, "-W", "default", "-c",
               "import sys; from pathlib import Path\n"
               "from dlzero_cli.imaging import open_gray\n"
               "for p in sys.argv[1:]:\n"
               "    try: open_gray(Path(p), p)\n"
               "    except Exception as e: print(type(e).__name__, e)\n"
               "status = Path('/proc/self/status')\n"
               "for line in status.read_text().splitlines() if status.exists() else []:\n"
               "    if line.startswith('VmHWM:'): print('peak', line.split()[1])",
               str(tmp_path / "7000.png"), str(tmp_path / "10000.png")]  # fmt: skip
    # Refused before decoding: judged by what the process allocated (its peak resident
    # memory, VmHWM in KB, Linux only: ru_maxrss would carry the forking pytest's over
    # exec), not by seconds; the timeout only guards against a hang.
    out = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert out.stderr == ""  # no DecompressionBombWarning
    assert out.stdout.count("InputError") == 2 and "megapixels" in out.stdout
    if "peak " in out.stdout:
        peak_kb = int(out.stdout.split("peak ")[1])
        # Measured: 30 MB refused; 127 MB when the 7000x7000 one alone is decoded.
        assert peak_kb < 100_000, peak_kb


def test_pillow_limit_is_left_alone_while_decoding(monkeypatch, tmp_path):
    """Image.MAX_IMAGE_PIXELS is process-wide: setting it while decoding would race
    another thread opening an image. Our check on the header does the work."""
    from PIL import Image

    import dlzero_cli.imaging as imaging

    before = Image.MAX_IMAGE_PIXELS
    seen = []
    real = imaging._decoded_gray

    def decoded_gray(image):
        seen.append(Image.MAX_IMAGE_PIXELS)
        return real(image)

    monkeypatch.setattr(imaging, "_decoded_gray", decoded_gray)
    path = tmp_path / "small.png"
    Image.new("L", (40, 30), 255).save(path)
    open_gray(path, path.name)
    with pytest.raises(InputError):
        open_gray(png_header_only(9000, 9000), "x.png")
    assert seen == [before] and Image.MAX_IMAGE_PIXELS == before


def test_a_header_past_pillows_own_limit_gets_our_line(monkeypatch):
    """Past twice Pillow's limit, Pillow refuses at open, before our check: the line is
    still ours, with the pixel count (and true when this program lowered the limit)."""
    from PIL import Image

    with pytest.raises(InputError, match=r"^x\.png: 400,000,000 pixels, more than the 40,000,000"):
        open_gray(png_header_only(20000, 20000), "x.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(InputError, match=r"^y\.png: 10,000 pixels, more than Pillow's limit"):
        open_gray(png_header_only(100, 100), "y.png")


# ------------------------------------------------------------------ standard input


def test_empty_stdin_says_so(mnist_run):
    spec = InputSpec((1, 28, 28), 255.0)
    good, problems = read_inputs(["-"], spec, b"")
    assert good == [] and len(problems) == 1
    assert problems[0].line.startswith("-: standard input was empty")
    assert problems[0].exit_code == 1


def test_unreadable_stdin_shows_no_object_repr():
    spec = InputSpec((1, 28, 28), 255.0)
    for data in (b"hello", b"\x89PNG\r\n\x1a\nbroken", b"GIF89a\x00"):
        _, [problem] = read_inputs(["-"], spec, data)
        assert " at 0x" not in problem.line and "<_io" not in problem.line, problem.line


@pytest.mark.slow
def test_predict_dash_with_empty_stdin_in_a_real_process(tmp_path, xor_run):
    out = subprocess.run(
        [sys.executable, "-m", "dlzero_cli", "predict", str(xor_run), "-"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 1
    assert out.stderr.startswith("error: -: standard input was empty")
    assert len(out.stderr.splitlines()) == 1


# ------------------------------------------------------------------ files and folders


def test_an_idx_file_over_the_byte_limit_is_refused_unread(tmp_path, monkeypatch):
    import dlzero_cli.inputs as inputs

    path = tmp_path / "big-ubyte"
    path.write_bytes(bytes([0, 0, 8, 1]) + struct.pack(">I", 2000) + bytes(2000))
    monkeypatch.setattr(inputs, "MAX_IDX_BYTES", 1000)
    monkeypatch.setattr(type(path), "read_bytes", lambda self: pytest.fail("read anyway"))
    _, [problem] = read_inputs([str(path)], InputSpec((2,), 1.0))
    assert problem.exit_code == 1
    assert problem.line == f"{path}: 2,008 bytes is more than predict reads (1,000); split the file"


def test_a_folder_that_cannot_be_listed_is_one_line(tmp_path, monkeypatch):
    from pathlib import Path

    def refuse(self):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "iterdir", refuse)
    _, [problem] = read_inputs([str(tmp_path)], InputSpec((2,), 1.0))
    assert problem.line == f"{tmp_path}: cannot list this folder: Permission denied"
