"""The checks themselves must be able to fail (issue 12, section 8: mutation survivors).

The gradient check's tolerance is only as good as the smallest wrong backward it
refuses, and the fused softmax cross-entropy's max shift only shows on logits large
enough to overflow exp."""

from __future__ import annotations

import numpy as np
import pytest

from dlzero_cli.engine.gradcheck import TOLERANCE, layer_gradient_errors
from dlzero_cli.engine.layers import Affine
from dlzero_cli.engine.losses import SoftmaxCrossEntropy


class SlightlyWrongAffine(Affine):
    """dx off by one part in 10^4: a plausible bug (a stray constant, a float32 cast)."""

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return super().backward(dout) * (1 + 1e-4)


def test_the_layer_check_refuses_a_backward_off_by_one_part_in_ten_thousand():
    rng = np.random.default_rng(0)
    args = rng.standard_normal((5, 3)), rng.standard_normal(3)
    x = rng.standard_normal((4, 5))
    good = layer_gradient_errors(Affine(*args), x, np.random.default_rng(1))
    assert max(good.values()) < TOLERANCE
    bad = layer_gradient_errors(SlightlyWrongAffine(*args), x, np.random.default_rng(1))
    assert bad["x"] > TOLERANCE  # caught: 5e-5 relative error against a 1e-7 tolerance
    assert bad["W"] < TOLERANCE  # only dx was wrong


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_softmax_cross_entropy_on_logits_that_overflow_exp(dtype):
    """exp(1000) overflows float64 and exp(100) float32: without the row maximum
    subtracted the loss is nan (and NumPy's overflow warning an error in this suite)."""
    big = 1000.0 if dtype == np.float64 else 100.0
    logits = np.array([[big, 0.0, -big], [0.0, big, big]], dtype=dtype)
    loss = SoftmaxCrossEntropy()
    value = loss.forward(logits, np.array([0, 0]))
    # Row 0: right and certain, loss 0. Row 1: log(1 + 2 exp(big)) - 0 ~ big + log 2.
    assert value == pytest.approx((0.0 + big + np.log(2)) / 2, rel=1e-6)
    grad = loss.backward()
    assert np.isfinite(grad).all()
    expected = np.array([[0, 0, 0], [-1, 0.5, 0.5]]) / 2
    np.testing.assert_allclose(grad, expected, atol=1e-6)
