"""Datasets on disk: where they live, how a file is verified, and the fast-load cache.

    <data dir>/<dataset>/                  data dir: --data-dir, $DLZERO_DATA_DIR or ./data
        train-images-idx3-ubyte.gz         the raw files, exactly as fetched and verified
        ...
        .cache/train-images-idx3-ubyte.npy uint8 arrays, opened memory-mapped
        .cache/manifest.json               per raw file: size, mtime and payload SHA-256

A raw file is accepted only when its decompressed IDX payload has the pinned SHA-256
(a recompressed copy of the same data passes; anything else is refused). The cache is
rebuilt, after verifying again, whenever a raw file's size or modification time differs
from the manifest; deleting `.cache/` is always safe.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dlzero_cli.atomic import atomic_open
from dlzero_cli.data.idx import IdxError, gunzip_capped, parse_idx
from dlzero_cli.errors import DataError

DATA_DIR_ENV = "DLZERO_DATA_DIR"
CACHE_DIR = ".cache"
MANIFEST = "manifest.json"
GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 1 << 20


def default_data_dir() -> Path:
    return Path(os.environ.get(DATA_DIR_ENV, "data"))


@dataclass(frozen=True)
class FileSpec:
    """One file of a dataset with its pinned checksums.

    `name` is the official .gz name. The payload hash is always checked; the archive
    hash (SHA-256, or MD5 where only that is published) tells an official archive
    from a recompressed copy.
    """

    name: str
    payload_sha256: str
    payload_size: int
    gz_size: int | None = None
    gz_sha256: str | None = None
    gz_md5: str | None = None

    @property
    def plain_name(self) -> str:
        return self.name.removesuffix(".gz")

    @property
    def max_download(self) -> int:
        """No valid copy (compressed or not) is bigger than the payload plus gzip framing."""
        return self.payload_size + (1 << 20)


class ChecksumMismatch(DataError):
    """A file whose payload is not the pinned data."""


@dataclass(frozen=True)
class Verified:
    payload: bytes
    official_archive: bool  # the exact official .gz (by its pinned hash)


def _decompress_capped(raw: bytes, limit: int, name: str) -> bytes:
    try:
        return gunzip_capped(raw, limit, name)
    except IdxError as exc:
        raise ChecksumMismatch(str(exc)) from None


def verify_bytes(raw: bytes, spec: FileSpec, name: str) -> Verified:
    """Check raw file bytes (gzip or plain IDX) against the spec's pinned hashes."""
    if len(raw) > spec.max_download:
        raise ChecksumMismatch(f"{name}: {len(raw):,} bytes, more than any valid copy")
    compressed = raw[:2] == GZIP_MAGIC
    payload = _decompress_capped(raw, spec.payload_size, name) if compressed else raw
    digest = hashlib.sha256(payload).hexdigest()
    if len(payload) != spec.payload_size or digest != spec.payload_sha256:
        raise ChecksumMismatch(
            f"{name}: checksum mismatch: the {'decompressed ' if compressed else ''}data has "
            f"SHA-256 {digest[:16]}… ({len(payload):,} bytes), expected "
            f"{spec.payload_sha256[:16]}… ({spec.payload_size:,} bytes)"
        )
    official = compressed and (
        (spec.gz_sha256 is not None and hashlib.sha256(raw).hexdigest() == spec.gz_sha256)
        or (spec.gz_md5 is not None and hashlib.md5(raw).hexdigest() == spec.gz_md5)
    )
    return Verified(payload, official)


def verify_file(path: Path, spec: FileSpec) -> Verified:
    try:
        size = path.stat().st_size
        if size > spec.max_download:
            raise ChecksumMismatch(f"{path}: {size:,} bytes, more than any valid copy")
        return verify_bytes(path.read_bytes(), spec, str(path))
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror}") from None


# --------------------------------------------------------------------------- local files


class DatasetFolder:
    """The folder of one dataset under the data dir, and its cache."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.cache = root / CACHE_DIR

    def raw_path(self, spec: FileSpec) -> Path | None:
        """The raw file present for `spec` (.gz or uncompressed), if any."""
        for name in (spec.name, spec.plain_name):
            path = self.root / name
            if path.is_file():
                return path
        return None

    def _manifest(self) -> dict[str, dict]:
        try:
            return json.loads((self.cache / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def _record(self, path: Path) -> dict:
        stat = path.stat()
        return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}

    def is_verified(self, spec: FileSpec) -> bool:
        """True when the raw file is unchanged since it was verified and cached."""
        path = self.raw_path(spec)
        if path is None:
            return False
        entry = self._manifest().get(spec.plain_name)
        return (
            entry is not None
            and entry.get("file") == path.name
            and entry.get("payload_sha256") == spec.payload_sha256
            and {k: entry.get(k) for k in ("size", "mtime_ns")} == self._record(path)
            and (self.cache / f"{spec.plain_name}.npy").is_file()
        )

    def install(self, temp: Path, spec: FileSpec, verified: Verified, compressed: bool) -> Path:
        """Rename a verified temp file into place and cache its array."""
        final = self.root / (spec.name if compressed else spec.plain_name)
        for stale in {self.root / spec.name, self.root / spec.plain_name} - {final}:
            stale.unlink(missing_ok=True)
        os.replace(temp, final)
        self._write_cache(final, spec, verified.payload)
        return final

    def _write_cache(self, path: Path, spec: FileSpec, payload: bytes) -> None:
        array = parse_idx(payload, str(path))
        self.cache.mkdir(parents=True, exist_ok=True)
        # A cache is rebuilt from the raw file if lost, so it skips the fsync.
        with atomic_open(self.cache / f"{spec.plain_name}.npy", "wb", durable=False) as f:
            np.save(f, array, allow_pickle=False)
        manifest = self._manifest()
        manifest[spec.plain_name] = {
            "file": path.name,
            "payload_sha256": spec.payload_sha256,
            **self._record(path),
        }
        with atomic_open(self.cache / MANIFEST, durable=False) as f:
            json.dump(manifest, f, indent=2)

    def load(self, spec: FileSpec, download_hint: str) -> np.ndarray:
        """The file's array, memory-mapped from the cache (rebuilt if the raw file changed)."""
        path = self.raw_path(spec)
        if path is None:
            raise DataError(f"{self.root / spec.name}: not downloaded; run: {download_hint}")
        if not self.is_verified(spec):
            try:
                verified = verify_file(path, spec)
            except ChecksumMismatch as exc:
                raise DataError(
                    f"{exc}; the file changed since it was downloaded; run: {download_hint} --force"
                ) from None
            try:
                self._write_cache(path, spec, verified.payload)
            except IdxError as exc:
                raise DataError(str(exc)) from None
        try:
            return np.load(self.cache / f"{spec.plain_name}.npy", mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise DataError(f"{self.cache}: unreadable cache ({exc}); delete the folder") from None

    def prepare(self) -> None:
        """Create the folder and remove the temp files of downloads that were killed
        (they never carry a final name, so nothing ever took them for complete)."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataError(
                f"{self.root}: cannot create the dataset folder: {exc.strerror}"
            ) from None
        for stale in self.root.glob(".*.part"):
            stale.unlink(missing_ok=True)
