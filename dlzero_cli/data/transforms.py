"""Input normalisation, fitted on the training split and applied per batch.

Datasets stay in their raw (usually uint8) form; each batch is converted to the
training dtype on the way into the network, so memory holds one float batch at a time.
A normaliser's fitted state travels in the run's weight file so that eval and predict
see inputs exactly as training did.
"""

from __future__ import annotations

import numpy as np

from dlzero_cli.engine.registry import Registry


class Normalizer:
    name = ""

    def __init__(self, pixel_max: float) -> None:
        self.pixel_max = float(pixel_max)

    def fit(self, x: np.ndarray) -> None:
        """Learn whatever the transform needs from the training inputs."""

    def __call__(self, x: np.ndarray, dtype: np.dtype) -> np.ndarray:
        raise NotImplementedError

    def state(self) -> dict[str, np.ndarray]:
        return {}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore what `fit` learned."""


NORMALIZERS: Registry[type[Normalizer]] = Registry("normalize")


@NORMALIZERS.register("scale", "divide by the largest raw value: pixels into [0, 1]")
class Scale(Normalizer):
    name = "scale"

    def __call__(self, x: np.ndarray, dtype: np.dtype) -> np.ndarray:
        out = x.astype(dtype)
        out /= dtype.type(self.pixel_max)  # divide, as the book does: x / 255.0
        return out


@NORMALIZERS.register("standardize", "scale, then zero mean and unit variance per input")
class Standardize(Normalizer):
    name = "standardize"

    def fit(self, x: np.ndarray) -> None:
        scaled = x.reshape(x.shape[0], -1).astype(np.float64) / self.pixel_max
        self.mean = scaled.mean(axis=0)
        # Constant inputs (always-blank border pixels) keep std 1: no division by 0.
        std = scaled.std(axis=0)
        self.std = np.where(std > 1e-8, std, 1.0)

    def __call__(self, x: np.ndarray, dtype: np.dtype) -> np.ndarray:
        flat = x.reshape(x.shape[0], -1).astype(dtype)
        flat /= dtype.type(self.pixel_max)
        flat -= self.mean.astype(dtype)
        flat /= self.std.astype(dtype)
        return flat.reshape(x.shape)

    def state(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean, "std": self.std}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        self.mean, self.std = state["mean"], state["std"]


@NORMALIZERS.register("none", "use the raw values as they are")
class NoNormalization(Normalizer):
    name = "none"

    def __call__(self, x: np.ndarray, dtype: np.dtype) -> np.ndarray:
        return x.astype(dtype)
