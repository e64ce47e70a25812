"""Downloads against a local HTTP server on 127.0.0.1 and local folders; never the internet."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import struct
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from dlzero_cli.data.catalog import DATASETS
from dlzero_cli.data.download import DownloadEvents, FolderSource, UrlSource
from dlzero_cli.data.remote import IdxDataset
from dlzero_cli.data.store import FileSpec
from dlzero_cli.errors import DataError, DlzeroWarning

# --------------------------------------------------------------------------- fixtures


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def make_files(seed: int = 0) -> dict[str, bytes]:
    """Payloads of a tiny IDX dataset: 12 train and 6 test images of 4x4, 3 classes."""
    rng = np.random.default_rng(seed)
    files = {}
    for prefix, n in (("train", 12), ("t10k", 6)):
        files[f"{prefix}-images-idx3-ubyte.gz"] = idx_bytes(rng.integers(0, 256, (n, 4, 4)))
        files[f"{prefix}-labels-idx1-ubyte.gz"] = idx_bytes(np.arange(n) % 3)
    return files


PAYLOADS = make_files()
ARCHIVES = {name: gzip.compress(payload, mtime=0) for name, payload in PAYLOADS.items()}


def spec_for(name: str) -> FileSpec:
    return FileSpec(
        name=name,
        payload_sha256=hashlib.sha256(PAYLOADS[name]).hexdigest(),
        payload_size=len(PAYLOADS[name]),
        gz_size=len(ARCHIVES[name]),
        gz_sha256=hashlib.sha256(ARCHIVES[name]).hexdigest(),
    )


def tiny_dataset(mirrors: tuple[str, ...] = ()) -> IdxDataset:
    files = {
        split: (spec_for(f"{p}-images-idx3-ubyte.gz"), spec_for(f"{p}-labels-idx1-ubyte.gz"))
        for split, p in (("train", "train"), ("test", "t10k"))
    }
    return IdxDataset(
        name="tiny-idx",
        description="test fixture",
        input_shape=(1, 4, 4),
        class_names=("a", "b", "c"),
        pixel_max=255.0,
        license="test",
        source="download",
        files=files,
        mirrors=mirrors,
    )


Behaviour = Callable[[http.server.BaseHTTPRequestHandler, str], None]


def serve(body: bytes) -> Behaviour:
    def behave(handler, name):
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return behave


def not_found(handler, name):
    handler.send_error(404, "Not Found")


def stall(seconds: float) -> Behaviour:
    def behave(handler, name):
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(ARCHIVES[name])))
        handler.end_headers()
        time.sleep(seconds)  # bounded: the client gives up long before

    return behave


def cut_short(handler, name):
    body = ARCHIVES[name]
    handler.send_response(200)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body[: len(body) // 2])
    handler.close_connection = True


class Server:
    """Routes /<mirror>/<file> to a behaviour; counts requests."""

    def __init__(self) -> None:
        self.routes: dict[str, Behaviour] = {}
        self.hits: list[str] = []
        routes, hits = self.routes, self.hits

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                mirror, _, name = self.path.strip("/").partition("/")
                hits.append(self.path)
                behave = routes.get(mirror)
                if behave is None or name not in ARCHIVES:
                    not_found(self, name)
                else:
                    behave(self, name)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, mirror: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{mirror}/"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.close()


class Recorder(DownloadEvents):
    def __init__(self) -> None:
        self.failures: list[tuple[str, str, bool]] = []
        self.installed: list[tuple[str, bool]] = []
        self.present: list[str] = []

    def attempt_failed(self, spec, source, reason, retrying):
        self.failures.append((source, reason, retrying))

    def file_installed(self, spec, path, official):
        self.installed.append((spec.name, official))

    def file_present(self, spec, path):
        self.present.append(spec.name)


FAST = {"timeout": 0.5, "retries": 2, "backoff": 0.01}


def final_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_file())


# --------------------------------------------------------------------------- HTTP


def test_download_from_the_first_mirror_and_load(server, tmp_path):
    server.routes["good"] = lambda h, n: serve(ARCHIVES[n])(h, n)
    dataset = tiny_dataset((server.url("good"),))
    events = Recorder()
    dataset.download(tmp_path, ("train", "test"), [], events, **FAST)
    assert [official for _, official in events.installed] == [True] * 4
    train = dataset.load("train", tmp_path)
    assert train.x.shape == (12, 1, 4, 4) and train.x.dtype == np.uint8
    assert train.y.tolist() == [0, 1, 2] * 4
    assert final_files(tmp_path / "tiny-idx") == sorted(ARCHIVES)


def test_404_on_the_first_mirror_falls_through_to_the_second(server, tmp_path):
    server.routes["missing"] = not_found
    server.routes["good"] = lambda h, n: serve(ARCHIVES[n])(h, n)
    dataset = tiny_dataset((server.url("missing"), server.url("good")))
    events = Recorder()
    dataset.download(tmp_path, ("test",), [], events, **FAST)
    assert len(events.installed) == 2
    assert all("HTTP 404" in reason and not retrying for _, reason, retrying in events.failures)


def test_corrupt_file_moves_on_then_fails_with_one_clear_line(server, tmp_path):
    corrupt = lambda h, n: serve(gzip.compress(b"\x00\x00\x08\x01" + bytes(8)))(h, n)  # noqa: E731
    server.routes["bad1"] = corrupt
    server.routes["bad2"] = corrupt
    dataset = tiny_dataset((server.url("bad1"), server.url("bad2")))
    with pytest.raises(DataError) as info:
        dataset.download(tmp_path, ("test",), [], Recorder(), **FAST)
    message = str(info.value)
    assert "\n" not in message
    assert message.count("checksum mismatch") == 2
    assert "bad1/t10k-images-idx3-ubyte.gz" in message and "--mirror" in message
    assert final_files(tmp_path / "tiny-idx") == []


def test_truncated_transfer_is_retried_and_never_installed(server, tmp_path):
    server.routes["short"] = cut_short
    dataset = tiny_dataset((server.url("short"),))
    events = Recorder()
    with pytest.raises(DataError, match="could not get t10k-images-idx3-ubyte.gz"):
        dataset.download(tmp_path, ("test",), [], events, **FAST)
    assert [retrying for *_, retrying in events.failures] == [True, False]
    assert final_files(tmp_path / "tiny-idx") == []  # no final name, no .part left


def test_stalled_server_times_out_and_the_next_mirror_serves(server, tmp_path):
    server.routes["slow"] = stall(3.0)
    server.routes["good"] = lambda h, n: serve(ARCHIVES[n])(h, n)
    dataset = tiny_dataset((server.url("slow"), server.url("good")))
    events = Recorder()
    dataset.download(tmp_path, ("test",), [], events, timeout=0.3, retries=1, backoff=0)
    assert len(events.installed) == 2
    assert any("timed out" in reason for _, reason, _ in events.failures)


def test_interrupt_mid_download_leaves_nothing_that_looks_complete(server, tmp_path):
    server.routes["good"] = lambda h, n: serve(ARCHIVES[n])(h, n)
    dataset = tiny_dataset((server.url("good"),))

    class CtrlC(Recorder):
        def advanced(self, nbytes):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        dataset.download(tmp_path, ("test",), [], CtrlC(), **FAST)
    assert list((tmp_path / "tiny-idx").iterdir()) == []
    assert not dataset.is_available(tmp_path, "test")


def test_a_killed_download_leaves_only_a_part_file_that_is_ignored_and_cleaned(server, tmp_path):
    folder = tmp_path / "tiny-idx"
    folder.mkdir()
    (folder / ".t10k-images-idx3-ubyte.gz.x1y2.part").write_bytes(
        ARCHIVES["t10k-images-idx3-ubyte.gz"][:50]
    )
    dataset = tiny_dataset((server.url("good"),))
    assert not dataset.is_available(tmp_path, "test")
    server.routes["good"] = lambda h, n: serve(ARCHIVES[n])(h, n)
    dataset.download(tmp_path, ("test",), [], Recorder(), **FAST)
    assert not list(folder.glob("*.part")) and dataset.is_available(tmp_path, "test")


def test_no_network_lists_every_source_tried(tmp_path):
    closed = "http://127.0.0.1:9/"  # the discard port: nothing listens, connection refused
    dataset = tiny_dataset((closed,))
    with pytest.raises(DataError) as info:
        dataset.download(tmp_path, ("test",), [], Recorder(), timeout=0.5, retries=1, backoff=0)
    assert str(info.value).startswith("could not get t10k-images-idx3-ubyte.gz: tried http://127")
    assert "pass --mirror URL_OR_FOLDER" in str(info.value)


# --------------------------------------------------------------------------- folders


def test_local_mirror_folder_with_recompressed_copy_is_accepted(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for name, payload in PAYLOADS.items():
        (mirror / name).write_bytes(gzip.compress(payload, compresslevel=1, mtime=12345))
    dataset = tiny_dataset()
    events = Recorder()
    dataset.download(tmp_path / "data", ("train", "test"), [FolderSource(mirror)], events, **FAST)
    assert events.installed and not any(official for _, official in events.installed)
    assert dataset.load("test", tmp_path / "data").y.tolist() == [0, 1, 2, 0, 1, 2]


def test_uncompressed_copy_in_a_folder_is_accepted(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for name, payload in PAYLOADS.items():
        (mirror / name.removesuffix(".gz")).write_bytes(payload)
    dataset = tiny_dataset()
    dataset.download(tmp_path / "data", ("test",), [FolderSource(mirror)], Recorder(), **FAST)
    assert dataset.load("test", tmp_path / "data").x.shape == (6, 1, 4, 4)


def test_a_different_payload_is_refused(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for name, payload in make_files(seed=99).items():
        (mirror / name).write_bytes(gzip.compress(payload))
    dataset = tiny_dataset()
    with pytest.raises(DataError, match="checksum mismatch"):
        dataset.download(tmp_path / "data", ("test",), [FolderSource(mirror)], Recorder(), **FAST)
    assert final_files(tmp_path / "data" / "tiny-idx") == []


def test_decompression_bomb_is_refused_without_inflating_it(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    # ~50 kB on disk, 50 MB inflated: refused on its header's claim (the store reads
    # IDX files the way predict does, header first), and zeros on their header.
    header = bytes([0, 0, 0x08, 1]) + struct.pack(">I", 50_000_000)
    for payload, message in (
        (header + bytes(50_000_000), r"header says 50000000 values of uint8 .* bytes allowed"),
        (bytes(50_000_000), "unknown IDX dtype code 0x00"),
    ):
        bomb = gzip.compress(payload)
        for name in ARCHIVES:
            (mirror / name).write_bytes(bomb)
        with pytest.raises(DataError, match=message):
            tiny_dataset().download(
                tmp_path / "d", ("test",), [FolderSource(mirror)], Recorder(), **FAST
            )


def test_rerun_does_nothing_and_force_fetches_again(server, tmp_path):
    server.routes["good"] = lambda h, n: serve(ARCHIVES[n])(h, n)
    dataset = tiny_dataset((server.url("good"),))
    dataset.download(tmp_path, ("test",), [], Recorder(), **FAST)
    hits = len(server.hits)
    events = Recorder()
    dataset.download(tmp_path, ("test",), [], events, **FAST)
    assert len(server.hits) == hits and len(events.present) == 2
    dataset.download(tmp_path, ("test",), [], Recorder(), force=True, **FAST)
    assert len(server.hits) == hits + 2


def test_a_raw_file_changed_after_install_is_caught_on_load(server, tmp_path):
    server.routes["good"] = lambda h, n: serve(ARCHIVES[n])(h, n)
    dataset = tiny_dataset((server.url("good"),))
    dataset.download(tmp_path, ("test",), [], Recorder(), **FAST)
    raw = tmp_path / "tiny-idx" / "t10k-labels-idx1-ubyte.gz"
    raw.write_bytes(gzip.compress(idx_bytes(np.zeros(6))))
    with pytest.raises(DataError, match=r"checksum mismatch.*dlzero download tiny-idx.*--force"):
        dataset.load("test", tmp_path)
    # Re-running download notices the change and fetches a good copy.
    dataset.download(tmp_path, ("test",), [], Recorder(), **FAST)
    assert dataset.load("test", tmp_path).y.tolist() == [0, 1, 2, 0, 1, 2]


def test_the_cache_is_rebuilt_when_the_raw_file_is_replaced_by_an_equal_copy(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for name, payload in PAYLOADS.items():
        (mirror / name).write_bytes(gzip.compress(payload))
    dataset = tiny_dataset()
    dataset.download(tmp_path / "d", ("test",), [FolderSource(mirror)], Recorder(), **FAST)
    folder = dataset.folder(tmp_path / "d")
    spec = dataset.files["test"][1]
    raw = folder.raw_path(spec)
    raw.write_bytes(gzip.compress(PAYLOADS[spec.name], compresslevel=9, mtime=1))
    assert not folder.is_verified(spec)
    with pytest.warns(DlzeroWarning, match="rebuilt it from t10k-labels-idx1-ubyte.gz"):
        assert dataset.load("test", tmp_path / "d").y.tolist() == [0, 1, 2, 0, 1, 2]
    assert folder.is_verified(spec)


# --------------------------------------------------------------------------- CLI


@pytest.fixture
def registered_tiny(server):
    server.routes["good"] = lambda h, n: serve(ARCHIVES[n])(h, n)
    dataset = tiny_dataset((server.url("good"),))
    DATASETS.add(dataset.name, dataset, dataset.description)
    yield dataset
    DATASETS.remove(dataset.name)


def test_cli_download_then_train_on_it(cli, tmp_path, registered_tiny, write_config):
    data_dir = tmp_path / "data"
    result = cli("download", "tiny-idx", "--data-dir", str(data_dir))
    assert result.exit_code == 0, result.stderr
    assert "4 file(s) installed and verified" in result.stdout
    again = cli("download", "tiny-idx", "--data-dir", str(data_dir))
    assert "nothing to do" in again.stdout
    config = write_config(
        "data: {dataset: tiny-idx, validation: 0}\nmodel: {layers: 16-5-3}\n"
        "train: {epochs: 2, batch_size: 4}\n"
    )
    trained = cli("train", str(config), "--data-dir", str(data_dir), "--quiet")
    assert trained.exit_code == 0, trained.stderr
    listed = cli("datasets", "--data-dir", str(data_dir))
    assert "tiny-idx" in listed.stdout and "train, test" in listed.stdout


def test_cli_training_on_a_missing_dataset_names_the_download_command(
    cli, tmp_path, registered_tiny, write_config
):
    config = write_config("data: {dataset: tiny-idx}\nmodel: {layers: 16-3}\n")
    data_dir = tmp_path / "nowhere"
    result = cli("train", str(config), "--data-dir", str(data_dir))
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert f"run: dlzero download tiny-idx --data-dir {data_dir}" in result.stderr
    downloaded = cli("train", str(config), "--data-dir", str(data_dir), "--download", "-q")
    assert downloaded.exit_code == 0, downloaded.stderr


def test_cli_download_errors_are_one_line(cli, tmp_path):
    assert cli("download", "digits").exit_code == 2
    missing = cli("download", "mnist", "--mirror", str(tmp_path / "nope"))
    assert missing.exit_code == 1 and "no such folder" in missing.stderr
    # A name typed on the command line is a usage error (2), like `download digits`;
    # a failure while working (network, checksum, disk) is 1.
    unknown = cli("download", "mnits")
    assert unknown.exit_code == 2 and "did you mean 'mnist'" in unknown.stderr
    assert unknown.stderr.count("\n") == 1


def test_limit_takes_a_stratified_subset(cli, tmp_path, registered_tiny, write_config):
    data_dir = tmp_path / "data"
    cli("download", "tiny-idx", "--data-dir", str(data_dir))
    config = write_config("data: {dataset: tiny-idx, validation: 0}\nmodel: {layers: 16-3}\n")
    result = cli("train", str(config), "--data-dir", str(data_dir), "--limit", "6", "-q")
    assert result.exit_code == 0, result.stderr
    import json

    summary = json.loads((cli.latest_run() / "summary.json").read_text())
    assert summary["samples"] == {"train": 6, "val": 0, "test": 6}


# --------------------------------------------------------------------------- real data


def test_real_mnist_test_split_from_a_local_mirror(tmp_path, shared_data):
    shared_mnist = shared_data("mnist/t10k-images-idx3-ubyte.gz").parent
    mnist = DATASETS.get("mnist")
    events = Recorder()
    mnist.download(tmp_path, ("test",), [FolderSource(shared_mnist)], events, **FAST)
    assert events.installed == [
        ("t10k-images-idx3-ubyte.gz", True),
        ("t10k-labels-idx1-ubyte.gz", True),
    ]
    test = mnist.load("test", tmp_path)
    assert test.x.shape == (10_000, 1, 28, 28) and test.x.dtype == np.uint8
    counts = np.bincount(test.y).tolist()
    assert counts == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    for spec in mnist.files["test"]:
        raw = (tmp_path / "mnist" / spec.name).read_bytes()
        assert hashlib.sha256(gzip.decompress(raw)).hexdigest() == spec.payload_sha256
    assert not mnist.is_available(tmp_path, "train")


FASHION_DEBIAN = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(
    not FASHION_DEBIAN.is_dir(),
    reason=f"needs {FASHION_DEBIAN}: Debian's dataset-fashion-mnist "
    "(apt-get install -y dataset-fashion-mnist to run this)",
)
def test_fashion_mnist_from_the_debian_package_without_network(tmp_path):
    fashion = DATASETS.get("fashion-mnist")
    # The official mirrors are replaced by a closed port: only the package can serve.
    offline = IdxDataset(**{**fashion.__dict__, "mirrors": ("http://127.0.0.1:9/",)})
    events = Recorder()
    offline.download(tmp_path, ("train", "test"), [], events, **FAST)
    assert [official for _, official in events.installed] == [False] * 4  # recompressed
    assert not events.failures
    train = offline.load("train", tmp_path)
    assert train.x.shape == (60_000, 1, 28, 28)
    assert np.bincount(train.y).tolist() == [6000] * 10


def test_url_source_label():
    assert UrlSource("http://h/x").label(spec_for("t10k-labels-idx1-ubyte.gz")) == (
        "http://h/x/t10k-labels-idx1-ubyte.gz"
    )


def test_a_data_dir_that_cannot_be_created_is_one_line(cli, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = cli("download", "mnist", "--data-dir", str(blocker / "data"))
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "cannot create the dataset folder" in result.stderr
