"""A model: the network plus everything needed to use it on raw inputs.

It bundles the layers, the output activation, the loss it was trained with, the
input normalisation and the class names. It describes itself as an architecture dict,
its weights and its normaliser's state, and is rebuilt from those parts; how they sit
in a weight file is the run folder's business (dlzero_cli.runs.formats).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dlzero_cli.config import Config, ConfigSource, LoadedConfig, compile_model
from dlzero_cli.data.batching import sequential_batches
from dlzero_cli.data.catalog import DATASETS, Dataset
from dlzero_cli.data.transforms import NORMALIZERS, Normalizer
from dlzero_cli.engine import functional as F
from dlzero_cli.engine.activations import OUTPUTS
from dlzero_cli.engine.init import INITIALIZERS
from dlzero_cli.engine.losses import Criterion, make_criterion
from dlzero_cli.engine.network import LayerSummary, Sequential, initialize

# 2: one name per layer kind, its YAML name ("dense", "padding", one "batchnorm");
# older weight files are upgraded where they are read (dlzero_cli.runs.formats).
ARCHITECTURE_FORMAT = 2


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
    def from_config(
        cls,
        config: Config,
        dataset: Dataset,
        rng: np.random.Generator,
        source: ConfigSource | None = None,
    ) -> Model:
        """A freshly initialised model for `config` (validated against `dataset`); one
        too large for this machine's memory is refused at `source`'s model.layers line."""
        dtype = np.dtype(config.train.dtype)
        model = config.model
        compiled = compile_model(config, dataset, rng, source=source)
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

    # ---------------------------------------------------------------- parts

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

    def snapshot(self) -> WeightSnapshot:
        """A copy of the parameters and buffers: training's best or last good epoch."""
        return WeightSnapshot(
            {name: array.copy() for name, array in self.network.named_params().items()},
            {name: array.copy() for name, array in self.network.named_buffers().items()},
        )

    def live_weights(self) -> WeightSnapshot:
        """The parameters and buffers themselves (no copy): what a weight file stores."""
        return WeightSnapshot(self.network.named_params(), self.network.named_buffers())

    def restore(self, snapshot: WeightSnapshot) -> None:
        """Copy a snapshot back into the live arrays; KeyError when one is missing."""
        live = self.live_weights()
        for ours, theirs in ((live.params, snapshot.params), (live.buffers, snapshot.buffers)):
            for name, target in ours.items():
                target[...] = theirs[name]

    @classmethod
    def from_parts(
        cls,
        architecture: dict[str, Any],
        weights: WeightSnapshot,
        normalizer_state: dict[str, np.ndarray],
    ) -> Model:
        """Rebuild from `architecture()`, the weights and `normalizer.state()`.

        Raises ValueError, KeyError or TypeError when the parts do not fit together.
        """
        arch = architecture
        if arch.get("format") != ARCHITECTURE_FORMAT:
            raise ValueError(f"unsupported architecture format {arch.get('format')!r}")
        dtype = np.dtype(arch["dtype"])
        _check_claims(Sequential.spec_shapes(arch["layers"]), weights)
        network = Sequential.from_spec(arch["layers"], dtype)
        network.load_params(weights.params)
        network.load_buffers(weights.buffers)
        norm = arch["normalize"]
        normalizer = NORMALIZERS.get(norm["name"])(norm["pixel_max"])
        normalizer.load_state(normalizer_state)
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


@dataclass(frozen=True)
class WeightSnapshot:
    """A model's parameters and buffers by the network's names ("0.W" -> array).

    From `Model.snapshot()` a copy (the best epoch, the last good one); from
    `Model.live_weights()` the model's own arrays.
    """

    params: dict[str, np.ndarray]
    buffers: dict[str, np.ndarray]

    def non_finite(self) -> list[str]:
        """The names of the arrays holding a NaN or an infinity (none: all finite)."""
        arrays = {**self.params, **self.buffers}
        return [
            name
            for name, array in arrays.items()
            if np.issubdtype(array.dtype, np.inexact) and not np.isfinite(array).all()
        ]


def _check_claims(claimed: dict[str, tuple[int, ...]], weights: WeightSnapshot) -> None:
    """ValueError unless the arrays the architecture describes are the arrays the file
    holds, name for name and shape for shape: checked before the network is built, so a
    description claiming a huge layer allocates nothing."""
    held = {name: a.shape for name, a in {**weights.params, **weights.buffers}.items()}
    for name in sorted(claimed.keys() | held.keys()):
        if name not in held:
            raise ValueError(f"the architecture describes {name}, which the file does not hold")
        if name not in claimed:
            raise ValueError(f"the file holds {name}, which the architecture does not describe")
        if tuple(held[name]) != tuple(claimed[name]):
            raise ValueError(
                f"the architecture describes {name} of shape {tuple(claimed[name])}, but the "
                f"file holds one of shape {tuple(held[name])}"
            )


@dataclass(frozen=True)
class NetworkSummary:
    """What `dlzero summary` shows: per layer its output shape, parameters and costs."""

    title: str
    input_shape: tuple[int, ...]  # one sample's
    batch_size: int
    layers: list[LayerSummary]


def summarize(loaded: LoadedConfig) -> NetworkSummary:
    """The network a config builds, layer by layer, described from layers that hold no
    memory (config.footprint.SHAPES_ONLY): a network too large to train still shows."""
    config = loaded.config
    dataset = DATASETS.get(config.data.dataset)
    network = Sequential(compile_model(config, dataset, shapes_only=True).layers)
    title = f"{config.name}: {dataset.name}, output {config.model.output}, loss {config.loss}"
    rows = network.summary(dataset.input_shape)
    return NetworkSummary(title, dataset.input_shape, config.train.batch_size, rows)
