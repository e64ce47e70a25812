"""The data cache is verified on every load (issue 12, section 5).

Each way a cache or a raw file can go wrong after it was verified once: a flipped pixel
or an out-of-range label in the cached .npy, a raw file changed in place with the same
size and modification time, a record that is unreadable or from an older dlzero.
"""

from __future__ import annotations

import json
import os
import warnings

import numpy as np
import pytest

from dlzero_cli.data.store import CACHE_FORMAT, DatasetFolder
from dlzero_cli.errors import DataError, DlzeroWarning

LABELS = "train-labels-idx1-ubyte"
IMAGES = "train-images-idx3-ubyte"


def flip_last_byte(path):
    """Change the file's last byte in place, keeping its size and modification time."""
    before = path.stat()
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    with open(path, "r+b") as f:  # in place: same inode, same size
        f.write(data)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)


def load_quietly(dataset, split, data_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DlzeroWarning)  # a warning here fails the test
        return dataset.load(split, data_dir)


def test_an_intact_cache_loads_uint8_read_only_and_without_a_word(tiny, tmp_path):
    data_dir = tmp_path / "data"
    folder = tiny.install(data_dir)
    record = json.loads((folder / ".cache" / f"{IMAGES}.json").read_text())
    assert record["format"] == CACHE_FORMAT
    assert record["payload_sha256"] == tiny.spec(f"{IMAGES}.gz").payload_sha256
    train = load_quietly(tiny.dataset, "train", data_dir)
    assert train.x.dtype == np.uint8 and not train.x.flags.writeable
    assert train.y.tolist() == [0, 1, 2] * 4
    payload = tiny.payloads[f"{IMAGES}.gz"]
    assert train.x.tobytes() == payload[16:]


def test_a_flipped_pixel_in_the_cache_is_noticed_and_the_cache_rebuilt(tiny, tmp_path):
    data_dir = tmp_path / "data"
    folder = tiny.install(data_dir)
    flip_last_byte(folder / ".cache" / f"{IMAGES}.npy")
    with pytest.warns(DlzeroWarning, match=r"\.npy: does not match its checksum.*rebuilt") as got:
        train = tiny.dataset.load("train", data_dir)
    assert len(got) == 1
    assert train.x.tobytes() == tiny.payloads[f"{IMAGES}.gz"][16:]  # the true pixels
    assert DatasetFolder(folder).is_verified(tiny.spec(f"{IMAGES}.gz"))
    load_quietly(tiny.dataset, "train", data_dir)  # rebuilt once, quiet after


def test_an_out_of_range_label_in_the_cache_never_reaches_training(tiny, tmp_path):
    """The reproducer: label 200 written into the cached labels crashed train and eval
    with an IndexError."""
    data_dir = tmp_path / "data"
    folder = tiny.install(data_dir)
    npy = folder / ".cache" / f"{LABELS}.npy"
    labels = np.load(npy)
    labels[3] = 200
    np.save(npy, labels)  # a valid .npy, just not the verified one
    with pytest.warns(DlzeroWarning, match="does not match its checksum"):
        train = tiny.dataset.load("train", data_dir)
    assert train.y.tolist() == [0, 1, 2] * 4


def test_labels_outside_the_classes_are_refused_at_load(tiny_with_labels, tmp_path):
    """Even verified data (here pinned with a label 7 for 3 classes) is range-checked."""
    bad = tiny_with_labels(lambda n: np.where(np.arange(n) == 4, 7, 0))
    bad.install(tmp_path / "data", ("train",))
    with pytest.raises(DataError) as info:
        bad.dataset.load("train", tmp_path / "data")
    message = str(info.value)
    assert "\n" not in message
    assert f"{LABELS}.gz: label 7 of sample 4" in message and "classes 0..2" in message


def test_a_raw_file_changed_in_place_with_the_same_size_and_time_is_caught(tiny, tmp_path):
    data_dir = tmp_path / "data"
    folder = tiny.install(data_dir)
    raw = folder / f"{LABELS}.gz"
    flip_last_byte(raw)  # the gzip trailer's size field: no longer the verified file
    with pytest.raises(DataError, match=r"download tiny-cache.*--force"):
        tiny.dataset.load("train", data_dir)


def test_a_raw_file_replaced_by_other_valid_data_of_the_same_size_is_caught(tiny, tmp_path):
    """Same size, same time, well-formed, different labels: only a hash can tell."""
    from dlzero_cli.data.download import DownloadEvents, FolderSource

    plain = tmp_path / "plain-mirror"
    plain.mkdir()
    for name, payload in tiny.payloads.items():
        (plain / name.removesuffix(".gz")).write_bytes(payload)
    data_dir = tmp_path / "data"
    tiny.dataset.download(data_dir, ("train",), [FolderSource(plain)], DownloadEvents())
    raw = data_dir / "tiny-cache" / LABELS
    before = raw.stat()
    swapped = bytearray(raw.read_bytes())
    swapped[8], swapped[9] = swapped[9], swapped[8]  # two labels swap places
    raw.write_bytes(swapped)
    os.utime(raw, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (raw.stat().st_size, raw.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    with pytest.raises(DataError, match="checksum mismatch"):
        tiny.dataset.load("train", data_dir)


def test_a_raw_file_recompressed_with_the_same_payload_rebuilds_the_cache(tiny, tmp_path):
    import gzip

    data_dir = tmp_path / "data"
    folder = tiny.install(data_dir, ("train",))
    raw = folder / f"{IMAGES}.gz"
    raw.write_bytes(gzip.compress(tiny.payloads[f"{IMAGES}.gz"], compresslevel=1, mtime=7))
    with pytest.warns(DlzeroWarning, match=f"built from other bytes than {IMAGES}.gz holds now"):
        train = tiny.dataset.load("train", data_dir)
    assert train.x.tobytes() == tiny.payloads[f"{IMAGES}.gz"][16:]
    load_quietly(tiny.dataset, "train", data_dir)


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda record: record.write_text("{not json"), "unreadable"),
        (lambda record: record.write_text('{"format": 99}'), "not a cache record"),
        (
            lambda record: record.write_text(
                json.dumps({**json.loads(record.read_text()), "npy_sha256": "0" * 64})
            ),
            "does not match its checksum",
        ),  # fmt: skip
        (lambda record: record.with_suffix(".npy").unlink(), "cannot read it"),
    ],
)
def test_a_damaged_record_or_a_lost_array_rebuilds_with_one_warning(tiny, tmp_path, damage, reason):
    data_dir = tmp_path / "data"
    folder = tiny.install(data_dir)
    damage(folder / ".cache" / f"{IMAGES}.json")
    with pytest.warns(DlzeroWarning, match=reason) as got:
        tiny.dataset.load("train", data_dir)
    assert len(got) == 1
    load_quietly(tiny.dataset, "train", data_dir)


def test_a_cache_of_the_older_layout_is_rebuilt_silently(tiny, tmp_path):
    """dlzero before cache format 2 kept one manifest.json of sizes and times."""
    data_dir = tmp_path / "data"
    folder = tiny.install(data_dir)
    cache = folder / ".cache"
    for record in cache.glob("*.json"):
        record.unlink()
    (cache / "manifest.json").write_text('{"train-images-idx3-ubyte": {"size": 1}}')
    train = load_quietly(tiny.dataset, "train", data_dir)
    assert train.y.tolist() == [0, 1, 2] * 4
    assert not (cache / "manifest.json").exists()
    assert (cache / f"{IMAGES}.json").is_file()


def test_train_and_eval_after_cache_damage_warn_once_and_succeed(
    cli, tiny, registered, tmp_path, write_config
):
    registered(tiny)
    data_dir = tmp_path / "data"
    folder = tiny.install(data_dir)
    npy = folder / ".cache" / f"{LABELS}.npy"
    labels = np.load(npy)
    labels[0] = 255
    np.save(npy, labels)
    config = write_config(
        "data: {dataset: tiny-cache, validation: 0}\nmodel: {layers: 16-5-3}\n"
        "train: {epochs: 1, batch_size: 4}\n"
    )
    trained = cli("train", str(config), "--data-dir", str(data_dir), "--quiet")
    assert trained.exit_code == 0, trained.stderr
    [warning] = [line for line in trained.stderr.splitlines() if line.startswith("warning:")]
    assert f"{LABELS}.npy: does not match its checksum" in warning
    flip_last_byte(folder / ".cache" / "t10k-labels-idx1-ubyte.npy")
    evaluated = cli("eval", "latest", "--data-dir", str(data_dir))
    assert evaluated.exit_code == 0, evaluated.stderr
    assert evaluated.stderr.count("warning:") == 1
    assert "Traceback" not in evaluated.stderr + evaluated.stdout
