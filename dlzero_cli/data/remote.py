"""Datasets fetched with `dlzero download`: MNIST and Fashion-MNIST, as IDX files.

Each is one registry entry: its files with pinned checksums, its official mirrors and,
where Debian packages it, the package name. KMNIST- or EMNIST-style IDX datasets are
one more entry each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from dlzero_cli.data.datasets import DATASETS, SPLITS, Arrays, Dataset, register
from dlzero_cli.data.download import (
    DownloadEvents,
    FolderSource,
    Source,
    UrlSource,
    debian_package_folders,
    fetch_file,
)
from dlzero_cli.data.store import DatasetFolder, FileSpec, default_data_dir
from dlzero_cli.errors import DataError

IMAGES_SIZE = {"train": 47_040_016, "test": 7_840_016}
LABELS_SIZE = {"train": 60_008, "test": 10_008}


@dataclass(frozen=True)
class IdxDataset(Dataset):
    """Images and labels per split, each an IDX file (usually gzip-compressed)."""

    # split -> (images, labels)
    files: dict[str, tuple[FileSpec, FileSpec]] = field(default_factory=dict)
    mirrors: tuple[str, ...] = ()
    debian_package: str | None = None
    downloadable: ClassVar[bool] = True

    def split_sizes(self) -> dict[str, int]:
        # An IDX label file is an 8-byte header and one byte per sample.
        return {split: self.files[split][1].payload_size - 8 for split in SPLITS}

    def origin(self) -> str:
        return f"download ({len(self.mirrors)} mirrors)"

    def folder(self, data_dir: Path | None) -> DatasetFolder:
        # `--data-dir '~/data'` (quoted, so no shell expanded it) means the home folder.
        return DatasetFolder(
            (data_dir.expanduser() if data_dir else default_data_dir()) / self.name
        )

    def download_command(self, data_dir: Path | None, split: str | None = None) -> str:
        command = f"dlzero download {self.name}"
        if split is not None and split != "all":
            command += f" --split {split}"
        if data_dir is not None and data_dir != default_data_dir():
            command += f" --data-dir {data_dir}"
        return command

    def specs(self, splits: tuple[str, ...] = SPLITS) -> list[FileSpec]:
        return [spec for split in splits for spec in self.files[split]]

    def is_available(self, data_dir: Path | None = None, split: str | None = None) -> bool:
        folder = self.folder(data_dir)
        splits = SPLITS if split is None else (split,)
        return all(folder.raw_path(spec) is not None for spec in self.specs(splits))

    def present_splits(self, data_dir: Path | None = None) -> list[str]:
        return [split for split in SPLITS if self.is_available(data_dir, split)]

    def load(self, split: str, data_dir: Path | None = None) -> Arrays:
        folder = self.folder(data_dir)
        images_spec, labels_spec = self.files[split]
        hint = self.download_command(data_dir, None)
        images = folder.load(images_spec, hint)
        labels = folder.load(labels_spec, hint)
        if images.shape[0] != labels.shape[0] or images.shape[1:] != self.input_shape[1:]:
            raise DataError(
                f"{folder.root}: {split} images {images.shape} and labels {labels.shape} do "
                f"not match {self.name}'s {len(self.class_names)}-class {self.input_shape} layout"
            )
        labels = labels.astype(np.int64)
        outside = np.flatnonzero((labels < 0) | (labels >= self.classes))
        if outside.size:
            first = int(outside[0])
            raise DataError(
                f"{folder.root / labels_spec.name}: label {labels[first]} of sample {first} "
                f"(and {outside.size - 1} more) is not one of {self.name}'s classes "
                f"0..{self.classes - 1}; run: {hint} --force"
            )
        # (N, 28, 28) -> (N, 1, 28, 28): a view of the verified uint8 array.
        x = images.reshape(images.shape[0], *self.input_shape)
        return Arrays(x, labels)

    def sources(self, extra: list[Source]) -> list[Source]:
        names = {name for spec in self.specs() for name in (spec.name, spec.plain_name)}
        debian = [FolderSource(p) for p in debian_package_folders(self.debian_package, names)]
        return [*extra, *debian, *(UrlSource(url) for url in self.mirrors)]

    def download(
        self,
        data_dir: Path | None,
        splits: tuple[str, ...],
        extra_sources: list[Source],
        events: DownloadEvents,
        *,
        force: bool = False,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 1.0,
    ) -> list[tuple[FileSpec, Path, bool]]:
        """Fetch and verify every missing file of `splits`: [(spec, path, fetched)]."""
        folder = self.folder(data_dir)
        folder.prepare()
        sources = self.sources(extra_sources)
        results = []
        for spec in self.specs(splits):
            existing = folder.raw_path(spec)
            if existing is not None and not force:
                # Loading verifies it: the cache's hashes when it has one, else the pins.
                try:
                    folder.load(spec, self.download_command(data_dir))
                except DataError:
                    existing = None  # changed or corrupt: fetch a good copy
                if existing is not None:
                    events.file_present(spec, existing)
                    results.append((spec, existing, False))
                    continue
            path = fetch_file(
                spec, folder, sources, events, timeout=timeout, retries=retries, backoff=backoff
            )
            results.append((spec, path, True))
        return results


def download_missing(dataset_name: str, data_dir: Path | None, events: DownloadEvents) -> None:
    """`train --download`: fetch a downloadable dataset's files that are not here yet."""
    dataset = DATASETS.get(dataset_name)
    if isinstance(dataset, IdxDataset) and not dataset.is_available(data_dir):
        dataset.download(data_dir, SPLITS, [], events)


def _files(payloads: dict[str, str], archives: dict[str, dict]) -> dict[str, tuple[FileSpec, ...]]:
    def spec(split: str, kind: str) -> FileSpec:
        prefix = "t10k" if split == "test" else "train"
        name = f"{prefix}-{kind}-idx{3 if kind == 'images' else 1}-ubyte.gz"
        size = (IMAGES_SIZE if kind == "images" else LABELS_SIZE)[split]
        return FileSpec(
            name=name, payload_sha256=payloads[name], payload_size=size, **archives[name]
        )

    return {split: (spec(split, "images"), spec(split, "labels")) for split in SPLITS}


MNIST_PAYLOADS = {
    "train-images-idx3-ubyte.gz": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte.gz": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte.gz": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte.gz": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
MNIST_ARCHIVES = {
    "train-images-idx3-ubyte.gz": {
        "gz_size": 9912422,
        "gz_sha256": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    },
    "train-labels-idx1-ubyte.gz": {
        "gz_size": 28881,
        "gz_sha256": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    },
    "t10k-images-idx3-ubyte.gz": {
        "gz_size": 1648877,
        "gz_sha256": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    },
    "t10k-labels-idx1-ubyte.gz": {
        "gz_size": 4542,
        "gz_sha256": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
}
FASHION_PAYLOADS = {
    "train-images-idx3-ubyte.gz": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
# Zalando publishes only MD5 sums of its archives.
FASHION_ARCHIVES = {
    "train-images-idx3-ubyte.gz": {
        "gz_size": 26421880,
        "gz_md5": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    },
    "train-labels-idx1-ubyte.gz": {"gz_size": 29515, "gz_md5": "25c81989df183df01b3e8a0aad5dffbe"},
    "t10k-images-idx3-ubyte.gz": {"gz_size": 4422102, "gz_md5": "bef4ecab320f06d8554ea6380940ec79"},
    "t10k-labels-idx1-ubyte.gz": {"gz_size": 5148, "gz_md5": "bb300cfdad3c16e7a12a480ee83cd310"},
}

register(
    IdxDataset(
        name="mnist",
        description="MNIST handwritten digits, 28x28 grayscale, 60,000 train / 10,000 test",
        input_shape=(1, 28, 28),
        class_names=tuple(str(d) for d in range(10)),
        pixel_max=255.0,
        license="CC BY-SA 3.0",
        source="download",
        files=_files(MNIST_PAYLOADS, MNIST_ARCHIVES),
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
    )
)

register(
    IdxDataset(
        name="fashion-mnist",
        description="Zalando's Fashion-MNIST clothing images, 28x28, 60,000 train / 10,000 test",
        input_shape=(1, 28, 28),
        class_names=(
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),  # fmt: skip
        pixel_max=255.0,
        license="MIT",
        source="download",
        files=_files(FASHION_PAYLOADS, FASHION_ARCHIVES),
        mirrors=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        ),
        debian_package="dataset-fashion-mnist",
    )
)
