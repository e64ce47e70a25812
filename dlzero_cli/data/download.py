"""Fetching dataset files: the only code in dlzero that touches the network.

Each file is tried from a list of sources in order (the user's --mirror URLs and
folders, an installed Debian package, then the dataset's official mirrors), falling
through to the next on any failure: connection error, timeout, HTTP error, missing
file, checksum mismatch. Transient failures are retried with exponential backoff.
Bytes stream into a `.NAME.RANDOM.part` file in the dataset's folder, which is renamed
to its real name only after the checksum matches, so an interrupted download never
leaves a file that passes for complete.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from dlzero_cli import __version__
from dlzero_cli.atomic import make_temp
from dlzero_cli.data.store import ChecksumMismatch, DatasetFolder, FileSpec, verify_bytes
from dlzero_cli.errors import DataError, describe_exception

CHUNK = 1 << 16
USER_AGENT = f"dlzero/{__version__} (+https://pypi.org/project/dlzero)"


class SourceMissing(Exception):
    """The source does not have the file (HTTP 4xx, not in the folder): try the next."""


class Transient(Exception):
    """A failure that may pass (timeout, reset connection, HTTP 5xx): retry."""


class DownloadEvents:
    """Progress callbacks; the CLI draws them, tests may record them."""

    def file_present(self, spec: FileSpec, path: Path) -> None: ...

    def file_started(self, spec: FileSpec, source: str, total: int | None) -> None: ...

    def advanced(self, nbytes: int) -> None: ...

    def attempt_failed(self, spec: FileSpec, source: str, reason: str, retrying: bool) -> None: ...

    def file_installed(self, spec: FileSpec, path: Path, official: bool) -> None: ...


@dataclass(frozen=True)
class UrlSource:
    base: str

    def label(self, spec: FileSpec) -> str:
        return f"{self.base.rstrip('/')}/{spec.name}"

    def copy_to(self, spec: FileSpec, out: BinaryIO, events: DownloadEvents, timeout: float):
        url = self.label(spec)
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        try:
            response = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310
        except urllib.error.HTTPError as exc:
            if exc.code >= 500 or exc.code == 429:
                raise Transient(f"HTTP {exc.code} {exc.reason}") from None
            raise SourceMissing(f"HTTP {exc.code} {exc.reason}") from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, socket.gaierror):
                raise SourceMissing(_unresolved(url, exc.reason)) from None
            raise Transient(str(exc.reason)) from None
        except socket.gaierror as exc:
            raise SourceMissing(_unresolved(url, exc)) from None
        except (TimeoutError, ConnectionError, http.client.HTTPException) as exc:
            raise Transient(describe_exception(exc)) from None
        with response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else spec.gz_size
            if total is not None and total > spec.max_download:
                raise SourceMissing(f"announces {total:,} bytes, more than any valid copy")
            events.file_started(spec, url, total)
            _stream(response, out, events, spec.max_download, expected=total)


@dataclass(frozen=True)
class FolderSource:
    folder: Path

    def label(self, spec: FileSpec) -> str:
        return str(self.folder / spec.name)

    def copy_to(self, spec: FileSpec, out: BinaryIO, events: DownloadEvents, timeout: float):
        for name in (spec.name, spec.plain_name):
            path = self.folder / name
            if path.is_file():
                events.file_started(spec, str(path), path.stat().st_size)
                try:
                    source = path.open("rb")
                except OSError as exc:
                    raise SourceMissing(f"cannot read it: {exc.strerror}") from None
                with source:
                    _stream(source, out, events, spec.max_download)
                return
        raise SourceMissing("no such file in the folder")


Source = UrlSource | FolderSource


def _unresolved(url: str, exc: socket.gaierror) -> str:
    # The resolver has already retried; retrying it again only makes an offline
    # machine wait (three tries of three mirrors took 9 s and 9 lines).
    host = urllib.parse.urlsplit(url).hostname or url
    return f"host {host} not found: {exc.strerror or exc}; not retried (offline?)"


def _stream(
    reader, out: BinaryIO, events: DownloadEvents, limit: int, expected: int | None = None
) -> None:
    received = 0
    while True:
        try:
            chunk = reader.read(CHUNK)
        except TimeoutError as exc:
            reason = describe_exception(exc)
            raise Transient(f"timed out after {received:,} bytes ({reason})") from None
        except (ConnectionError, http.client.HTTPException, OSError) as exc:
            reason = describe_exception(exc)
            raise Transient(f"connection broke after {received:,} bytes ({reason})") from None
        if not chunk:
            break
        received += len(chunk)
        if received > limit:
            raise SourceMissing(f"sent more than {limit:,} bytes, more than any valid copy")
        out.write(chunk)
        events.advanced(len(chunk))
    if expected is not None and received < expected:
        raise Transient(f"connection closed after {received:,} of {expected:,} bytes")


def parse_mirror(text: str) -> Source:
    """A --mirror value: a URL (anything with ://) or a local folder."""
    if "://" in text:
        return UrlSource(text)
    folder = Path(text).expanduser()
    if not folder.is_dir():
        raise DataError(f"--mirror {text}: no such folder (and not a URL with ://)")
    return FolderSource(folder)


def debian_package_folders(package: str | None, names: Iterable[str]) -> list[Path]:
    """Folders where an installed Debian package put any of `names` (asks dpkg)."""
    if not package or shutil.which("dpkg-query") is None:
        return []
    try:
        listing = subprocess.run(
            ["dpkg-query", "-L", package], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return []
    if listing.returncode != 0:
        return []
    wanted = set(names)
    folders = {
        Path(line).parent for line in listing.stdout.splitlines() if Path(line).name in wanted
    }
    return sorted(folders)


def fetch_file(
    spec: FileSpec,
    folder: DatasetFolder,
    sources: list[Source],
    events: DownloadEvents,
    *,
    timeout: float = 30.0,
    retries: int = 3,
    backoff: float = 1.0,
) -> Path:
    """Get one verified file into `folder` (which exists), trying `sources` in order."""
    failures: list[str] = []
    for source in sources:
        label = source.label(spec)
        for attempt in range(1, retries + 1):
            try:
                fd, temp = make_temp(folder.root, prefix=f".{spec.name}.", suffix=".part")
            except OSError as exc:
                raise _write_error(folder, spec, exc) from None
            try:
                with os.fdopen(fd, "wb") as out:
                    source.copy_to(spec, out, events, timeout)
                raw = temp.read_bytes()
                verified = verify_bytes(raw, spec, label)
                path = folder.install(temp, spec, raw, verified)
                events.file_installed(spec, path, verified.official_archive)
                return path
            except Transient as exc:
                retrying = attempt < retries
                events.attempt_failed(spec, label, str(exc), retrying)
                if retrying:
                    time.sleep(backoff * 2 ** (attempt - 1))
                    continue
                failures.append(f"{label} ({exc})")
            except (SourceMissing, ChecksumMismatch) as exc:
                reason = str(exc).removeprefix(f"{label}: ")
                events.attempt_failed(spec, label, reason, False)
                failures.append(f"{label} ({reason})")
            except OSError as exc:  # sources turn their own I/O errors into the above
                raise _write_error(folder, spec, exc) from None
            finally:
                with contextlib.suppress(OSError):  # never hide the error being raised
                    temp.unlink(missing_ok=True)
            break
    tried = "; ".join(failures) if failures else "no sources"
    raise DataError(
        f"could not get {spec.name}: tried {tried}; "
        "pass --mirror URL_OR_FOLDER with a copy of the file"
    )


def _write_error(folder: DatasetFolder, spec: FileSpec, exc: OSError) -> DataError:
    """A failed write in the dataset folder (full, read-only, no permission): one line."""
    return DataError(f"{folder.root / spec.name}: cannot write it: {exc.strerror or exc}")
