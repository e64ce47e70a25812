"""`dlzero import book`: the book's pretrained parameters (a pickle) as a run folder,
set up in a partial folder and published whole, as a trained run is."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from dlzero_cli.config import load_config
from dlzero_cli.data.catalog import DATASETS
from dlzero_cli.model import Model
from dlzero_cli.pretrained import load_book_params, read_param_pickle
from dlzero_cli.runs.documents import Summary
from dlzero_cli.runs.folder import RunFolder, utc_now
from dlzero_cli.runs.lifecycle import layers_text
from dlzero_cli.runs.manifest import make_manifest
from dlzero_cli.runs.threads import current_environment, versions


def import_book(
    weights: Path, config_ref: str, runs_dir: Path, name: str | None = None
) -> RunFolder:
    """A run folder holding the book's pretrained parameters under `config_ref`'s layers."""
    loaded = load_config(config_ref, [f"name={name}"] if name else [])
    config = loaded.config
    if config.data.normalize == "standardize":
        raise loaded.source.error(
            ("data", "normalize"),
            "got 'standardize'; the book's networks take pixels / 255: use scale",
        )
    dataset = DATASETS.get(config.data.dataset)
    model = Model.from_config(config, dataset, np.random.default_rng(config.seed))
    load_book_params(model.network, read_param_pickle(weights), str(weights))
    with RunFolder.staged(runs_dir, config.name) as staged:  # removed if writing fails
        return _write_import(staged, config, model, weights, dataset.name)


def _write_import(
    folder: RunFolder, config: Any, model: Model, weights: Path, dataset: str
) -> RunFolder:
    """An imported run's files into the staged `folder`, which is then published."""
    folder.write_config(config)
    folder.write_metrics([])
    folder.write_weights(model)
    now = utc_now().isoformat()
    folder.write_summary(
        Summary(
            name=config.name,
            status="imported",
            layers=layers_text(config.model),
            imported_from=str(weights.resolve()),
            imported_sha256=hashlib.sha256(weights.read_bytes()).hexdigest(),
            dataset=dataset,
            parameters=model.network.parameter_count(),
            started_at=now,
            finished_at=now,
            versions=versions(),
        )
    )
    # It trained elsewhere: no dataset digests; the pickle's SHA-256 is in the summary.
    folder.write_manifest(make_manifest(folder, current_environment()))
    return folder.publish()
