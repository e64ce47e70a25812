"""Offline downloads fail fast (issue 12, section 6): a host name that does not resolve
gives up that mirror at once; every other failure keeps its retries.

Before: three mirrors that do not resolve took 9 failure lines and 9.0 s (three tries
each, backing off 1 s and 2 s); now 3 lines and about 0.03 s. No test here reaches the
internet: `.invalid` names never resolve (RFC 2606), and the servers are on 127.0.0.1.
"""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator

import pytest

import dlzero_cli.data.download as download
from dlzero_cli.data.download import DownloadEvents
from dlzero_cli.errors import DataError

NOWHERE = ("http://nonexistent.invalid/mnist/", "http://mirror.nonexistent.invalid/x/")


class Recorder(DownloadEvents):
    def __init__(self) -> None:
        self.failures: list[tuple[str, str, bool]] = []
        self.installed: list[str] = []

    def attempt_failed(self, spec, source, reason, retrying):
        self.failures.append((source, reason, retrying))

    def file_installed(self, spec, path, official):
        self.installed.append(spec.name)


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    """The backoff pauses fetch_file asks for (recorded, not slept)."""
    asked: list[float] = []
    monkeypatch.setattr(download.time, "sleep", asked.append)
    return asked


@pytest.fixture
def local_server(tiny) -> Iterator[str]:
    """A 127.0.0.1 server of the tiny dataset's .gz files: its base URL."""
    archives = {path.name: path.read_bytes() for path in tiny.mirror.iterdir()}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body = archives.get(self.path.rsplit("/", 1)[-1])
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/tiny/"
    httpd.shutdown()
    httpd.server_close()


def with_mirrors(tiny, mirrors):
    from dlzero_cli.data.remote import IdxDataset

    return IdxDataset(**{**tiny.dataset.__dict__, "mirrors": tuple(mirrors)})


def test_unresolvable_mirrors_fail_at_once_without_retries(tiny, tmp_path, sleeps):
    events = Recorder()
    dataset = with_mirrors(tiny, NOWHERE)
    with pytest.raises(DataError) as info:
        dataset.download(tmp_path, ("test",), [], events, retries=3, backoff=1.0)
    assert [(source.split("/")[2], retrying) for source, _, retrying in events.failures] == [
        ("nonexistent.invalid", False),
        ("mirror.nonexistent.invalid", False),
    ]
    assert all(
        "not found" in reason and "not retried" in reason for _, reason, _ in events.failures
    )
    assert sleeps == []  # no backoff at all
    message = str(info.value)
    assert "\n" not in message and message.count("host ") == 2
    assert list((tmp_path / tiny.dataset.name).iterdir()) == []


def test_a_resolver_that_cannot_reach_any_server_is_not_retried_either(
    tiny, tmp_path, sleeps, monkeypatch
):
    """Offline with a configured DNS server: EAI_AGAIN, "temporary failure"; the resolver
    has already waited and retried, so dlzero does not (patched: no resolver needed)."""

    def offline(*args, **kwargs):
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", offline)
    events = Recorder()
    with pytest.raises(DataError, match="Temporary failure in name resolution"):
        with_mirrors(tiny, ["http://example.org/data/"]).download(
            tmp_path, ("test",), [], events, retries=3, backoff=1.0
        )
    assert [retrying for *_, retrying in events.failures] == [False]
    assert sleeps == []


def test_the_next_mirror_serves_after_one_that_does_not_resolve(tiny, tmp_path, local_server):
    events = Recorder()
    dataset = with_mirrors(tiny, [NOWHERE[0], local_server])
    dataset.download(tmp_path, ("train", "test"), [], events, retries=3, backoff=1.0)
    assert len(events.installed) == 4
    assert {source.split("/")[2] for source, *_ in events.failures} == {"nonexistent.invalid"}
    assert dataset.load("test", tmp_path).y.tolist() == [0, 1, 2, 0, 1, 2]


def test_other_connection_failures_keep_their_retries(tiny, tmp_path, sleeps):
    closed = "http://127.0.0.1:9/"  # the discard port: connection refused, a Transient
    events = Recorder()
    with pytest.raises(DataError, match="could not get"):
        with_mirrors(tiny, [closed]).download(
            tmp_path, ("test",), [], events, retries=3, backoff=1.0
        )
    assert [retrying for *_, retrying in events.failures] == [True, True, False]
    assert sleeps == [1.0, 2.0]


def test_cli_download_offline_is_one_error_line_and_exit_1(cli, tiny, registered, tmp_path, sleeps):
    registered(tiny)
    result = cli(
        "download", tiny.dataset.name, "--data-dir", str(tmp_path / "data"),
        "--mirror", NOWHERE[0], "--mirror", NOWHERE[1],
    )  # fmt: skip
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "not found" in errors[0]
    assert "Traceback" not in result.stderr
    failed = [line for line in result.stdout.splitlines() if line.startswith("failed")]
    assert len(failed) == 2 and all("not retried" in line for line in failed)
    assert sleeps == []
