"""Fixtures of the data tests: a tiny IDX dataset with pinned checksums served from a
local folder, a way to make writes fail, and a small tmpfs where the machine allows one."""

from __future__ import annotations

import errno
import gzip
import hashlib
import os
import shutil
import struct
import subprocess
import types
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from dlzero_cli.data.catalog import DATASETS
from dlzero_cli.data.download import DownloadEvents, FolderSource
from dlzero_cli.data.remote import IdxDataset
from dlzero_cli.data.store import FileSpec


def idx_bytes(array: np.ndarray, code: int = 0x08) -> bytes:
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


@dataclass
class TinyIdx:
    """A 3-class IDX dataset (12 train and 6 test images of 4x4) pinned to `payloads`,
    with a mirror folder of .gz copies; `install(data_dir)` downloads it from there."""

    dataset: IdxDataset
    payloads: dict[str, bytes]
    mirror: Path

    def install(self, data_dir: Path, splits: tuple[str, ...] = ("train", "test")) -> Path:
        self.dataset.download(
            data_dir, splits, [FolderSource(self.mirror)], DownloadEvents(), retries=1, backoff=0
        )
        return data_dir / self.dataset.name

    def spec(self, name: str) -> FileSpec:
        return next(s for s in self.dataset.specs() if s.name == name)


def make_tiny(folder: Path, labels_of=lambda n: np.arange(n) % 3, name="tiny-cache") -> TinyIdx:
    rng = np.random.default_rng(0)
    payloads = {}
    for prefix, n in (("train", 12), ("t10k", 6)):
        payloads[f"{prefix}-images-idx3-ubyte.gz"] = idx_bytes(rng.integers(0, 256, (n, 4, 4)))
        payloads[f"{prefix}-labels-idx1-ubyte.gz"] = idx_bytes(labels_of(n))
    mirror = folder / "mirror"
    mirror.mkdir(parents=True)
    for file, payload in payloads.items():
        (mirror / file).write_bytes(gzip.compress(payload, mtime=0))

    def spec(file: str) -> FileSpec:
        return FileSpec(
            name=file,
            payload_sha256=hashlib.sha256(payloads[file]).hexdigest(),
            payload_size=len(payloads[file]),
        )

    files = {
        split: (spec(f"{p}-images-idx3-ubyte.gz"), spec(f"{p}-labels-idx1-ubyte.gz"))
        for split, p in (("train", "train"), ("test", "t10k"))
    }
    dataset = IdxDataset(
        name=name,
        description="test fixture",
        input_shape=(1, 4, 4),
        class_names=("a", "b", "c"),
        pixel_max=255.0,
        license="test",
        source="download",
        files=files,
        mirrors=(),
    )
    return TinyIdx(dataset, payloads, mirror)


@pytest.fixture
def tiny(tmp_path: Path) -> TinyIdx:
    return make_tiny(tmp_path)


@pytest.fixture
def tiny_with_labels(tmp_path: Path):
    """`tiny_with_labels(lambda n: labels)`: a TinyIdx pinned to other labels."""
    return lambda labels_of: make_tiny(tmp_path / "other", labels_of=labels_of)


@pytest.fixture
def registered(tmp_path: Path):
    """`registered(tiny)`: put a TinyIdx in the DATASETS registry for this test only."""
    added = []

    def register(tiny_idx: TinyIdx) -> TinyIdx:
        DATASETS.add(tiny_idx.dataset.name, tiny_idx.dataset, tiny_idx.dataset.description)
        added.append(tiny_idx.dataset.name)
        return tiny_idx

    yield register
    for name in added:
        DATASETS.remove(name)


@pytest.fixture
def failing_writes(monkeypatch):
    """`failing_writes(errno.ENOSPC)`: from now on, every temporary file dlzero creates
    for an atomic write or a download (all its writes go through one) fails with that
    error, as on a full disk or a read-only mount. Works as root, where chmod does not
    stop writes."""
    import dlzero_cli.atomic as atomic

    def fail(code: int = errno.EROFS) -> None:
        def mkstemp(*args, **kwargs):
            raise OSError(code, os.strerror(code))

        monkeypatch.setattr(atomic, "tempfile", types.SimpleNamespace(mkstemp=mkstemp))

    return fail


def _can_mount() -> bool:
    return os.geteuid() == 0 and shutil.which("mount") is not None


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A real 256 KB tmpfs mounted in tmp_path (skips where mounting is not allowed);
    `remount_readonly(path)` and `fill(path)` below act on it."""
    if not _can_mount():
        pytest.skip("needs root and mount(8) to mount a small tmpfs")
    target = tmp_path / f"tmpfs-{uuid.uuid4().hex[:8]}"
    target.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(target)],
        capture_output=True, text=True, timeout=10,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], capture_output=True, timeout=10)


def remount_readonly(path: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True, timeout=10)


def fill(path: Path) -> None:
    """Fill the file system of `path` until a write fails with ENOSPC."""
    with open(path / "filler", "wb", buffering=0) as out:
        try:
            while True:
                out.write(bytes(4096))
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    assert shutil.disk_usage(path).free < 4096


@pytest.fixture
def tmpfs_tools():
    """(remount_readonly, fill) for the small_tmpfs fixture."""
    return remount_readonly, fill
