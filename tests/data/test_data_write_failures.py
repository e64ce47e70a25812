"""A data folder that cannot be written (issue 12, section 3): loading reads the raw
files and says so once; a download is one line naming the file and the cause, exit 1,
and leaves no partial file.

Writes are made to fail by patching them (as root, chmod stops nothing), and again on
a real 256 KB tmpfs, filled or remounted read-only, where the machine lets a test mount.
"""

from __future__ import annotations

import errno
import os
import shutil
import warnings

import pytest

import dlzero_cli.data.store as store
from dlzero_cli.data.download import DownloadEvents, FolderSource
from dlzero_cli.errors import DataError, DlzeroWarning

IMAGES = "train-images-idx3-ubyte"


def snapshot(folder):
    """{relative path: bytes} of every file under `folder` (hidden ones included)."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.fixture
def cache_writes_fail(monkeypatch):
    """`cache_writes_fail(errno.EROFS)`: the data cache's writes fail, nothing else does
    (a train run still writes its run folder)."""

    def fail(code: int, after_bytes: int | None = None) -> None:
        if after_bytes is None:

            def refuse(path, *args, **kwargs):
                raise OSError(code, os.strerror(code), str(path))

            monkeypatch.setattr(store, "atomic_open", refuse)
        else:  # the disk fills up in the middle of the .npy
            real_write = store._HashingWriter.write

            def write(self, data):
                if self.size + len(data) > after_bytes:
                    raise OSError(code, os.strerror(code))
                return real_write(self, data)

            monkeypatch.setattr(store._HashingWriter, "write", write)

    return fail


def test_a_read_only_folder_without_a_cache_loads_from_the_raw_files(
    tiny, tmp_path, cache_writes_fail
):
    data_dir = tmp_path / "data"
    folder = tiny.install(data_dir)
    shutil.rmtree(folder / ".cache")
    cache_writes_fail(errno.EROFS)
    with pytest.warns(DlzeroWarning, match=r"cannot be written \(Read-only file system\)") as got:
        train = tiny.dataset.load("train", data_dir)
    assert {str(w.message) for w in got} == {str(got[0].message)}  # one text, deduplicated
    assert train.x.tobytes() == tiny.payloads[f"{IMAGES}.gz"][16:]
    assert train.y.tolist() == [0, 1, 2] * 4
    assert not list((folder / ".cache").glob("*.npy"))


def test_a_cache_rebuild_on_a_full_disk_keeps_the_old_files_and_loads_anyway(
    tiny, tmp_path, cache_writes_fail
):
    data_dir = tmp_path / "data"
    folder = tiny.install(data_dir)
    npy = folder / ".cache" / f"{IMAGES}.npy"
    damaged = bytearray(npy.read_bytes())
    damaged[-1] ^= 1
    npy.write_bytes(damaged)
    before = snapshot(folder)
    cache_writes_fail(errno.ENOSPC, after_bytes=64)  # fails in the middle of the array
    with pytest.warns(DlzeroWarning) as got:
        train = tiny.dataset.load("train", data_dir)
    [message] = {str(w.message) for w in got}
    assert "does not match its checksum" in message and "No space left on device" in message
    assert train.x.tobytes() == tiny.payloads[f"{IMAGES}.gz"][16:]  # the verified pixels
    assert snapshot(folder) == before  # nothing half-written, no temporary file left


def test_cli_train_and_eval_on_a_read_only_data_folder_warn_once(
    cli, tiny, registered, tmp_path, write_config, cache_writes_fail
):
    registered(tiny)
    data_dir = tmp_path / "data"
    folder = tiny.install(data_dir)
    shutil.rmtree(folder / ".cache")
    cache_writes_fail(errno.EROFS)
    config = write_config(
        "data: {dataset: tiny-cache, validation: 0}\nmodel: {layers: 16-5-3}\n"
        "train: {epochs: 1, batch_size: 4}\n"
    )
    for args in (["train", str(config), "--quiet"], ["eval", "latest"]):
        result = cli(*args, "--data-dir", str(data_dir))
        assert result.exit_code == 0, result.stderr
        lines = result.stderr.splitlines()
        assert len([line for line in lines if line.startswith("warning:")]) == 1, lines
        assert "Read-only file system" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_a_download_that_cannot_write_is_one_line_and_leaves_nothing(
    cli, tiny, registered, tmp_path, failing_writes, code
):
    registered(tiny)
    data_dir = tmp_path / "data"
    (data_dir / tiny.dataset.name).mkdir(parents=True)
    failing_writes(code)
    result = cli(
        "download", tiny.dataset.name, "--data-dir", str(data_dir), "--mirror", str(tiny.mirror)
    )
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    target = data_dir / tiny.dataset.name / "train-images-idx3-ubyte.gz"
    assert f"{target}: cannot write it: {os.strerror(code)}" in result.stderr
    assert list((data_dir / tiny.dataset.name).iterdir()) == []


def test_a_download_whose_cache_cannot_be_written_still_installs_the_files(
    tiny, tmp_path, cache_writes_fail
):
    cache_writes_fail(errno.ENOSPC)
    with pytest.warns(DlzeroWarning, match="No space left on device"):
        folder = tiny.install(tmp_path / "data")
    assert sorted(p.name for p in folder.iterdir() if p.is_file()) == sorted(tiny.payloads)
    with pytest.warns(DlzeroWarning):  # still no cache: read from the raw files again
        assert tiny.dataset.load("test", tmp_path / "data").y.tolist() == [0, 1, 2] * 2


# --------------------------------------------------------------------------- real tmpfs


def test_on_a_read_only_mount_loading_needs_no_write(tiny, small_tmpfs, tmpfs_tools):
    remount_readonly, _ = tmpfs_tools
    folder = tiny.install(small_tmpfs)
    shutil.rmtree(folder / ".cache")
    remount_readonly(small_tmpfs)
    with pytest.warns(DlzeroWarning, match="Read-only file system"):
        assert tiny.dataset.load("train", small_tmpfs).y.tolist() == [0, 1, 2] * 4


def test_on_a_full_tmpfs_a_stale_cache_is_replaced_in_memory_only(tiny, small_tmpfs, tmpfs_tools):
    _, fill = tmpfs_tools
    folder = tiny.install(small_tmpfs)
    npy = folder / ".cache" / f"{IMAGES}.npy"
    damaged = bytearray(npy.read_bytes())
    damaged[-1] ^= 1
    npy.write_bytes(damaged)
    before = snapshot(folder)
    fill(small_tmpfs)
    with pytest.warns(DlzeroWarning, match="No space left on device"):
        train = tiny.dataset.load("train", small_tmpfs)
    assert train.x.tobytes() == tiny.payloads[f"{IMAGES}.gz"][16:]
    assert snapshot(folder) == before


@pytest.mark.parametrize("how", ["full", "read-only"])
def test_downloading_into_a_full_or_read_only_tmpfs(tiny, small_tmpfs, tmpfs_tools, how):
    remount_readonly, fill = tmpfs_tools
    (small_tmpfs / tiny.dataset.name).mkdir()
    if how == "full":
        fill(small_tmpfs)
    else:
        remount_readonly(small_tmpfs)
    with warnings.catch_warnings(), pytest.raises(DataError) as info:
        warnings.simplefilter("error", DlzeroWarning)
        tiny.dataset.download(
            small_tmpfs, ("train",), [FolderSource(tiny.mirror)], DownloadEvents(), retries=1
        )
    cause = "No space left on device" if how == "full" else "Read-only file system"
    assert str(info.value) == (
        f"{small_tmpfs / tiny.dataset.name / 'train-images-idx3-ubyte.gz'}: "
        f"cannot write it: {cause}"
    )
    assert list((small_tmpfs / tiny.dataset.name).iterdir()) == []
