"""A model: the network plus everything needed to use it on raw inputs.

It bundles the layers, the output activation, the loss it was trained with, the
input normalisation and the class names, and turns itself into plain arrays and a
JSON architecture (and back), so a weight file alone is enough for eval and predict.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from dlzero_cli.config import Config, LoadedConfig, compile_model
from dlzero_cli.data.batching import sequential_batches
from dlzero_cli.data.catalog import DATASETS, Dataset
from dlzero_cli.data.transforms import NORMALIZERS, Normalizer
from dlzero_cli.engine import functional as F
from dlzero_cli.engine.init import INITIALIZERS
from dlzero_cli.engine.layers import OUTPUTS
from dlzero_cli.engine.losses import Criterion, make_criterion
from dlzero_cli.engine.network import LayerSummary, Sequential, initialize

# 2: one name per layer kind, its YAML name ("dense", "padding", one "batchnorm").
ARCHITECTURE_FORMAT = 2
# Format 1's names for the same things.
_KINDS_BEFORE_2 = {"affine": "dense", "batchnorm2d": "batchnorm"}
_KEYS_BEFORE_2 = {"pad": "padding"}
PARAM_PREFIX = "param/"
BUFFER_PREFIX = "buffer/"
NORMALIZE_PREFIX = "normalize/"
ARCHITECTURE_KEY = "architecture"


@dataclass
class Model:
    network: Sequential
    output: str
    loss: str
    normalizer: Normalizer
    dataset: str
    input_shape: tuple[int, ...]
    class_names: tuple[str, ...]
    dtype: np.dtype

    # ---------------------------------------------------------------- building

    @classmethod
    def from_config(cls, config: Config, dataset: Dataset, rng: np.random.Generator) -> Model:
        """A freshly initialised model for `config` (validated against `dataset`)."""
        dtype = np.dtype(config.train.dtype)
        model = config.model
        compiled = compile_model(config, dataset, rng)
        network = Sequential(compiled.layers)

        def init_of(number: int):
            name = model.init_by_layer.get(number) or compiled.inits[number - 1] or model.init
            return INITIALIZERS.get(name)

        def activation_after(number: int) -> str:
            return compiled.next_activation[number - 1]

        initialize(network, rng, init_of, activation_after, model.init_std)
        normalizer = NORMALIZERS.get(config.data.normalize)(dataset.pixel_max)
        return cls(
            network=network,
            output=config.model.output,
            loss=config.loss,
            normalizer=normalizer,
            dataset=dataset.name,
            input_shape=dataset.input_shape,
            class_names=dataset.class_names,
            dtype=dtype,
        )

    def criterion(self) -> Criterion:
        return make_criterion(self.loss, self.output)

    # ---------------------------------------------------------------- using

    def prepare(self, x_raw: np.ndarray) -> np.ndarray:
        """Raw inputs (N, *input_shape) -> normalised float batch in the model's dtype."""
        return self.normalizer(x_raw, self.dtype)

    def class_scores(self, x_raw: np.ndarray, batch_size: int = 100) -> np.ndarray:
        """(N, classes) scores (probabilities for softmax and sigmoid outputs), eval mode."""
        self.network.eval()
        output = OUTPUTS.get(self.output)()
        chunks = [
            output.forward(self.network.forward(self.prepare(x_raw[rows])))
            for rows in sequential_batches(x_raw.shape[0], batch_size)
        ]
        scores = np.concatenate(chunks) if chunks else np.empty((0, self.output_units))
        return F.scores_to_class_scores(scores)

    @property
    def output_units(self) -> int:
        """Scores per sample: the last layer's output size."""
        return int(np.prod(self.network.output_shape(self.input_shape)))

    # ---------------------------------------------------------------- arrays

    def architecture(self) -> dict[str, Any]:
        return {
            "format": ARCHITECTURE_FORMAT,
            "dataset": self.dataset,
            "input_shape": list(self.input_shape),
            "class_names": list(self.class_names),
            "layers": self.network.spec(),
            "output": self.output,
            "loss": self.loss,
            "dtype": self.dtype.name,
            "normalize": {"name": self.normalizer.name, "pixel_max": self.normalizer.pixel_max},
        }

    def weights(self) -> dict[str, np.ndarray]:
        """The live parameters and buffers, by their weight-file names ("param/0.W")."""
        arrays = {PARAM_PREFIX + k: v for k, v in self.network.named_params().items()}
        arrays.update({BUFFER_PREFIX + k: v for k, v in self.network.named_buffers().items()})
        return arrays

    def weights_copy(self) -> dict[str, np.ndarray]:
        """A snapshot of `weights()`: the "best epoch" or "last good epoch" of training."""
        return {name: array.copy() for name, array in self.weights().items()}

    def restore_weights(self, arrays: dict[str, np.ndarray]) -> None:
        """Copy a snapshot (or a weight file's arrays) back into the live arrays."""
        for name, target in self.weights().items():
            target[...] = arrays[name]

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Every array and the architecture (as a JSON string array): no pickles needed."""
        arrays = self.weights()
        arrays.update({NORMALIZE_PREFIX + k: v for k, v in self.normalizer.state().items()})
        arrays[ARCHITECTURE_KEY] = np.array(json.dumps(self.architecture()))
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> Model:
        """Rebuild from `to_arrays` output; raises ValueError/KeyError when inconsistent."""
        arch = upgrade_architecture(json.loads(str(arrays[ARCHITECTURE_KEY])))
        dtype = np.dtype(arch["dtype"])
        network = Sequential.from_spec(arch["layers"], dtype)
        params = {
            k[len(PARAM_PREFIX) :]: v for k, v in arrays.items() if k.startswith(PARAM_PREFIX)
        }
        network.load_params(params)
        network.load_buffers(strip_prefix(arrays, BUFFER_PREFIX))
        norm = arch["normalize"]
        normalizer = NORMALIZERS.get(norm["name"])(norm["pixel_max"])
        state = {
            k[len(NORMALIZE_PREFIX) :]: v
            for k, v in arrays.items()
            if k.startswith(NORMALIZE_PREFIX)
        }
        normalizer.load_state(state)
        OUTPUTS.get(arch["output"])  # an unknown output name fails here, not at predict time
        return cls(
            network=network,
            output=arch["output"],
            loss=arch["loss"],
            normalizer=normalizer,
            dataset=arch["dataset"],
            input_shape=tuple(arch["input_shape"]),
            class_names=tuple(arch["class_names"]),
            dtype=dtype,
        )


def strip_prefix(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """The arrays whose names start with `prefix`, without it."""
    return {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}


def upgrade_architecture(arch: dict[str, Any]) -> dict[str, Any]:
    """A weight file's architecture in the current format; ValueError for an unknown one.

    Format 1 (dlzero before the layer kinds were declared once) named the dense layer
    "affine", spatial batch norm "batchnorm2d" and padding "pad".
    """
    found = arch.get("format")
    if found == ARCHITECTURE_FORMAT:
        return arch
    if found != 1:
        raise ValueError(
            f"unsupported architecture format {found!r} (this dlzero reads 1 to "
            f"{ARCHITECTURE_FORMAT}); a newer dlzero may have written it"
        )
    layers = []
    for spec in arch["layers"]:
        kind = spec["type"]
        upgraded = {_KEYS_BEFORE_2.get(k, k): v for k, v in spec.items()}
        upgraded["type"] = _KINDS_BEFORE_2.get(kind, kind)
        if upgraded["type"] == "batchnorm":
            upgraded["spatial"] = kind == "batchnorm2d"
        if upgraded["type"] == "dropout":
            upgraded.setdefault("scale", "train")
        layers.append(upgraded)
    return {**arch, "format": ARCHITECTURE_FORMAT, "layers": layers}


@dataclass(frozen=True)
class NetworkSummary:
    """What `dlzero summary` shows: per layer its output shape, parameters and costs."""

    title: str
    input_shape: tuple[int, ...]  # one sample's
    batch_size: int
    layers: list[LayerSummary]


def summarize(loaded: LoadedConfig) -> NetworkSummary:
    """The network a config builds, layer by layer."""
    config = loaded.config
    dataset = DATASETS.get(config.data.dataset)
    model = Model.from_config(config, dataset, np.random.default_rng(config.seed))
    title = f"{config.name}: {dataset.name}, output {config.model.output}, loss {config.loss}"
    rows = model.network.summary(dataset.input_shape)
    return NetworkSummary(title, dataset.input_shape, config.train.batch_size, rows)
