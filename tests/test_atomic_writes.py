"""Atomic writes (issue 12, section 8): a write that fails part-way leaves the previous
file byte-identical and no temporary file behind. The failure is made inside the write
itself (after bytes went out), so a plain `open(path, "w")` would already have truncated
the old file and the tests would see it."""

from __future__ import annotations

import errno

import numpy as np
import pytest

from dlzero_cli import atomic
from dlzero_cli.errors import WriteError


def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def _assert_untouched(path, before: bytes) -> None:
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no .tmp left


def test_arrays_whose_write_fails_half_way_leave_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "weights.npz"
    atomic.write_arrays(path, {"W": np.arange(6.0)})
    before = path.read_bytes()
    real_write = np.lib.format.write_array
    calls = []

    def second_array_fails(fp, array, *args, **kwargs):  # the first array goes out whole
        calls.append(array.shape)
        if len(calls) == 2:
            fp.write(b"\x93NUMPY half a header")
            _no_space()
        return real_write(fp, array, *args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", second_array_fails)
    with pytest.raises(WriteError, match=r"weights\.npz: cannot write: No space left on device"):
        atomic.write_arrays(path, {"W": np.ones(1000), "b": np.ones(10)})
    _assert_untouched(path, before)
    with np.load(path) as kept:
        np.testing.assert_array_equal(kept["W"], np.arange(6.0))


def test_arrays_whose_save_raises_leave_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.npz"
    atomic.write_arrays(path, {"W": np.arange(3.0)})
    before = path.read_bytes()

    def partial_then_enospc(file, *args, **kwargs):
        file.write(b"PK\x03\x04 half an archive")
        _no_space()

    monkeypatch.setattr(np, "savez", partial_then_enospc)
    with pytest.raises(WriteError):
        atomic.write_arrays(path, {"W": np.zeros(3)})
    _assert_untouched(path, before)


def test_text_that_cannot_be_encoded_leaves_the_old_file(tmp_path):
    path = tmp_path / "config.yaml"
    atomic.write_text(path, "name: good\n")
    before = path.read_bytes()
    with pytest.raises(UnicodeEncodeError):
        atomic.write_text(path, "name: good\n" * 100 + "bad: \udc80\n")  # a lone surrogate
    _assert_untouched(path, before)


def test_json_whose_rename_fails_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "summary.json"
    atomic.write_json(path, {"status": "completed"})
    before = path.read_bytes()
    monkeypatch.setattr(atomic.os, "replace", _no_space)
    with pytest.raises(WriteError, match="summary.json: cannot write"):
        atomic.write_json(path, {"status": "running"})
    _assert_untouched(path, before)
