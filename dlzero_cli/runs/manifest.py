"""Build a run's manifest: the hashes of its files and data, and its environment.

The dataset payload is hashed per split (train, val, test), on the arrays the run
trained and was scored on: raw scale (before normalisation), after the validation
hold-out and `data.limit`, in the order training received them. For each split:

    sha256( b"x:" + x.dtype.str + b":" + shape as "N,28,28" + b"\\n" + x's bytes (C order)
          + b"y:" + y.dtype.str + b":" + shape as "N" + b"\\n" + y's bytes (C order) )

so the same pixels in another dtype or shape hash differently.
"""

from __future__ import annotations

import hashlib

import numpy as np

from dlzero_cli.data.datasets import Arrays
from dlzero_cli.runs.documents import Environment, Manifest, SplitDigest
from dlzero_cli.runs.folder import RunFolder, utc_now


def split_digest(arrays: Arrays) -> SplitDigest:
    digest = hashlib.sha256()
    for name, array in (("x", arrays.x), ("y", arrays.y)):
        shape = ",".join(map(str, array.shape))
        digest.update(f"{name}:{array.dtype.str}:{shape}\n".encode("ascii"))
        if array.size:  # (an empty split has no bytes; memoryview cannot cast it)
            digest.update(memoryview(np.ascontiguousarray(array)).cast("B"))
    return SplitDigest(len(arrays), digest.hexdigest())


def split_digests(splits: dict[str, Arrays]) -> dict[str, SplitDigest]:
    return {name: split_digest(arrays) for name, arrays in splits.items()}


def make_manifest(
    folder: RunFolder,
    environment: Environment,
    dataset: str | None = None,
    splits: dict[str, SplitDigest] | None = None,
) -> Manifest:
    """The manifest of `folder` as its files stand now."""
    return Manifest(
        written_at=utc_now().isoformat(),
        files=folder.file_digests(),
        dataset=dataset,
        splits=dict(splits or {}),
        environment=environment,
    )
