"""Datasets on disk: where they live, how a file is verified, and the verified cache.

    <data dir>/<dataset>/                   data dir: --data-dir, $DLZERO_DATA_DIR or ./data
        train-images-idx3-ubyte.gz          the raw files, exactly as fetched and verified
        ...
        .cache/train-images-idx3-ubyte.npy  the file's array (uint8), written by np.save
        .cache/train-images-idx3-ubyte.json its record: what it was built from, its hash

A raw file is accepted only when its decompressed IDX payload has the pinned SHA-256
(a recompressed copy of the same data passes; anything else is refused).

The cache spares each load decompressing and verifying the payload, and is itself checked
on every load. Its record (format CACHE_FORMAT) holds the SHA-256 of the raw file's bytes
it was built from, the pinned payload hash those bytes were verified against, and the
SHA-256 of the .npy file. A load hashes the raw file and reads and hashes the .npy (on
MNIST's 60,000 training images: 9.7 MB and 47 MB, about 90 ms in all), so a raw file
changed in place (same size, same time), a flipped byte in the cache or a record that
does not match are noticed; the cache is then rebuilt from the raw file, verified again
against the pinned hash, with one warning. Where the cache cannot be written (a read-only
folder, a full disk) the arrays come straight from the verified raw files, with one
warning. Deleting `.cache/` is always safe.

Warnings are `DlzeroWarning`s (`warnings.warn`): this module never prints.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dlzero_cli.atomic import atomic_open
from dlzero_cli.data.idx import GZIP_MAGIC, IdxError, inflate_idx, parse_idx
from dlzero_cli.data.npy import NpyError, read_npy_header
from dlzero_cli.errors import DataError, DlzeroWarning

DATA_DIR_ENV = "DLZERO_DATA_DIR"
CACHE_DIR = ".cache"
CACHE_FORMAT = 2  # 1: one manifest.json of sizes and times, no hashes (rebuilt silently)
LEGACY_MANIFEST = "manifest.json"


def default_data_dir() -> Path:
    """--data-dir's default: $DLZERO_DATA_DIR (`~` expanded) when set and not empty, else ./data."""
    configured = os.environ.get(DATA_DIR_ENV, "").strip()
    return Path(configured).expanduser() if configured else Path("data")


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
        return inflate_idx(raw, name, limit)
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


def read_raw(path: Path, spec: FileSpec) -> bytes:
    """A raw file's bytes, refusing one bigger than any valid copy before reading it."""
    try:
        size = path.stat().st_size
        if size > spec.max_download:
            raise ChecksumMismatch(f"{path}: {size:,} bytes, more than any valid copy")
        return path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror}") from None


def verify_file(path: Path, spec: FileSpec) -> Verified:
    return verify_bytes(read_raw(path, spec), spec, str(path))


def sha256(data: bytes | memoryview) -> str:
    # SHA-256 rather than BLAKE2b: OpenSSL's SHA-256 hashes 1.8 GB/s on the development
    # machine (SHA extensions), hashlib's BLAKE2b 0.95 GB/s; and the pins are SHA-256.
    return hashlib.sha256(data).hexdigest()


class _HashingWriter:
    """A binary file wrapper that hashes and counts what goes through it."""

    def __init__(self, out) -> None:
        self.out, self.hash, self.size = out, hashlib.sha256(), 0

    def write(self, data) -> int:
        self.hash.update(data)
        self.size += len(data)
        return self.out.write(data)


def _npy_array(data: bytes) -> np.ndarray | None:
    """The array in the bytes of an .npy file, without copying; None if it is not one
    plain C-ordered array whose header agrees with the length."""
    try:
        header = read_npy_header(io.BytesIO(data), "cache")
    except NpyError:
        return None
    dtype = header.dtype
    if header.fortran_order or dtype.hasobject or header.nbytes != len(data) - header.offset:
        return None
    return np.frombuffer(data, dtype=dtype, count=header.values, offset=header.offset).reshape(
        header.shape
    )


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

    def _cache_files(self, spec: FileSpec) -> tuple[Path, Path]:
        """(the cached array, its record)."""
        return self.cache / f"{spec.plain_name}.npy", self.cache / f"{spec.plain_name}.json"

    def _cached(
        self, spec: FileSpec, raw_name: str, raw_sha256: str
    ) -> tuple[np.ndarray | None, str]:
        """(the cached array, "") when the cache was built from exactly these raw bytes and
        is intact; otherwise (None, why not), the reason empty when there is no cache
        to speak of (never built, or built by a dlzero without records)."""
        npy, record_path = self._cache_files(spec)
        try:
            record = json.loads(record_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None, ""
        except (OSError, ValueError):
            return None, f"{record_path}: unreadable"
        if not isinstance(record, dict) or record.get("format") != CACHE_FORMAT:
            return None, f"{record_path}: not a cache record dlzero {CACHE_FORMAT} reads"
        if record.get("file") != raw_name or record.get("raw_sha256") != raw_sha256:
            return None, f"{npy}: built from other bytes than {raw_name} holds now"
        if record.get("payload_sha256") != spec.payload_sha256:
            return None, f"{npy}: built for other data than the pinned {spec.name}"
        try:
            if npy.stat().st_size != record.get("npy_size"):
                return None, f"{npy}: not the size its record gives (corrupt)"
            data = npy.read_bytes()
        except OSError as exc:
            return None, f"{npy}: cannot read it ({exc.strerror})"
        array = _npy_array(data) if sha256(data) == record.get("npy_sha256") else None
        if array is None:
            return None, f"{npy}: does not match its checksum (corrupt)"
        return array, ""

    def is_verified(self, spec: FileSpec) -> bool:
        """True when the raw file is here and its cache is intact and was built from it."""
        path = self.raw_path(spec)
        if path is None:
            return False
        try:
            raw = path.read_bytes()
        except OSError:
            return False
        return self._cached(spec, path.name, sha256(raw))[0] is not None

    def install(self, temp: Path, spec: FileSpec, raw: bytes, verified: Verified) -> Path:
        """Rename a verified temp file (holding `raw`) into place and cache its array.

        OSError when the rename fails; a cache that cannot be written is a warning only.
        """
        compressed = raw[:2] == GZIP_MAGIC
        final = self.root / (spec.name if compressed else spec.plain_name)
        for stale in {self.root / spec.name, self.root / spec.plain_name} - {final}:
            stale.unlink(missing_ok=True)
        os.replace(temp, final)
        try:
            array = parse_idx(verified.payload, str(final))
        except IdxError as exc:
            raise DataError(str(exc)) from None
        self._store(spec, final.name, sha256(raw), array, "")
        return final

    def _store(
        self, spec: FileSpec, raw_name: str, raw_sha256: str, array: np.ndarray, stale: str
    ) -> None:
        """Write the cache of `array`; warn once when that fails or replaces a stale one."""
        try:
            self._write_cache(spec, raw_name, raw_sha256, array)
        except OSError as exc:
            why = f"{stale}, and it" if stale else f"{self.cache}: the cache"
            warnings.warn(
                DlzeroWarning(
                    f"{why} cannot be written ({exc.strerror}); {self.root.name} is read "
                    "from its raw files instead, verified on every load (slower)"
                ),
                stacklevel=2,
            )
            return
        if stale:
            warnings.warn(
                DlzeroWarning(
                    f"{stale}; rebuilt it from {raw_name}, verified against the pinned checksum"
                ),
                stacklevel=2,
            )

    def _write_cache(
        self, spec: FileSpec, raw_name: str, raw_sha256: str, array: np.ndarray
    ) -> None:
        npy, record_path = self._cache_files(spec)
        self.cache.mkdir(parents=True, exist_ok=True)
        # A cache is rebuilt from the raw file if lost, so it skips the fsync. The .npy
        # goes first: a record never describes an array that is not there.
        with atomic_open(npy, "wb", durable=False) as f:
            hashing = _HashingWriter(f)
            np.save(hashing, array, allow_pickle=False)
        record = {
            "format": CACHE_FORMAT,
            "file": raw_name,
            "raw_sha256": raw_sha256,
            "payload_sha256": spec.payload_sha256,
            "npy_sha256": hashing.hash.hexdigest(),
            "npy_size": hashing.size,
            "shape": list(array.shape),
            "dtype": array.dtype.str,
        }
        with atomic_open(record_path, durable=False) as f:
            json.dump(record, f, indent=2)
        with contextlib.suppress(OSError):
            (self.cache / LEGACY_MANIFEST).unlink(missing_ok=True)

    def load(self, spec: FileSpec, download_hint: str) -> np.ndarray:
        """The file's array (read-only), from the cache when it is intact and was built
        from the raw file as it is now; otherwise from the raw file, verified again."""
        path = self.raw_path(spec)
        if path is None:
            raise DataError(f"{self.root / spec.name}: not downloaded; run: {download_hint}")
        try:
            raw = read_raw(path, spec)
        except ChecksumMismatch as exc:
            raise DataError(f"{exc}; run: {download_hint} --force") from None
        raw_sha256 = sha256(raw)
        array, stale = self._cached(spec, path.name, raw_sha256)
        if array is not None:
            return array
        try:
            verified = verify_bytes(raw, spec, str(path))
        except ChecksumMismatch as exc:
            raise DataError(
                f"{exc}; the file changed since it was downloaded; run: {download_hint} --force"
            ) from None
        try:
            array = parse_idx(verified.payload, str(path))
        except IdxError as exc:
            raise DataError(str(exc)) from None
        self._store(spec, path.name, raw_sha256, array, stale)
        return array

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
            with contextlib.suppress(OSError):  # a read-only folder: they stay, ignored
                stale.unlink(missing_ok=True)
