"""Reference values computed once with PyTorch, which dlzero's tests compare against.

    PYTHONPATH=. python benchmarks/torch_reference.py [--out tests/fixtures/torch-reference.npz]

Needs PyTorch (`pip install torch==2.13.0`, CPU; never a dependency of dlzero) and
NumPy, and nothing of dlzero: the inputs are drawn here with NumPy from fixed seeds,
everything is computed in float64 by PyTorch (autograd for the gradients, torch.optim
for the optimizers, torch.optim.lr_scheduler for the schedules), and inputs and results
go into one `.npz` (np.savez: plain arrays, no pickles). tests/engine/test_torch_reference.py
reads it with allow_pickle=False and runs dlzero on the same inputs.

Keys are "family/case/name": e.g. "conv/s1p1/x" (an input), "conv/s1p1/out", "conv/s1p1/dx",
"conv/s1p1/dW" (results). Where dlzero follows the book rather than PyTorch's default,
the value is PyTorch's computation with the convention aligned, stored beside PyTorch's
own where that is informative:

- batch norm's running variance: the book's is the biased batch variance (/N), PyTorch
  updates it with the unbiased one (/(N-1)); "running_var" is computed by PyTorch from
  torch.var(unbiased=False), "running_var_torch" is PyTorch's own. dlzero's momentum 0.9
  is PyTorch's momentum 0.1 (the weight of the old value vs. of the new batch).
- `xavier` is the book's sqrt(1/fan_in); Glorot's (PyTorch's xavier_normal_) is
  sqrt(2/(fan_in+fan_out)). "init/*" stores the standard deviations PyTorch's init
  functions use, with the gain that gives the book's.
- momentum and nesterov keep a velocity in parameter units; PyTorch keeps its buffer in
  gradient units. The same at a constant lr, which is what the trajectories use.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as TF

torch.set_default_dtype(torch.float64)
STEPS = 20  # optimizer trajectory length
OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "torch-reference.npz"


class Store:
    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def __setitem__(self, key: str, value) -> None:
        if isinstance(value, torch.Tensor):
            value = value.detach().numpy()
        self.arrays[key] = np.array(value, dtype=np.float64)

    def settings(self, key: str, settings: dict[str, float]) -> None:
        """Names (a unicode array, not objects) and values of dlzero's settings."""
        self.arrays[f"{key}/setting_names"] = np.array(list(settings), dtype=str)
        self.arrays[f"{key}/setting_values"] = np.array(list(settings.values()), dtype=np.float64)


def leaf(array: np.ndarray) -> torch.Tensor:
    return torch.tensor(array, dtype=torch.float64, requires_grad=True)


def backward(out: torch.Tensor, dout: np.ndarray) -> None:
    out.backward(torch.tensor(dout))


# --------------------------------------------------------------------------- layers


def dense(s: Store, rng: np.random.Generator) -> None:
    x, W, b = rng.standard_normal((4, 5)), rng.standard_normal((5, 3)), rng.standard_normal(3)
    dout = rng.standard_normal((4, 3))
    tx, tW, tb = leaf(x), leaf(W), leaf(b)
    out = TF.linear(tx, tW.T, tb)  # dlzero's W is (in, out); PyTorch's weight (out, in)
    backward(out, dout)
    for k, v in dict(x=x, W=W, b=b, dout=dout, out=out, dx=tx.grad, dW=tW.grad, db=tb.grad).items():
        s[f"dense/{k}"] = v


def conv(s: Store, rng: np.random.Generator) -> None:
    for case, (stride, pad, kh, kw) in {
        "s1p1": (1, 1, 3, 3),
        "s2p0": (2, 0, 3, 3),
        "s1p2k5x3": (1, 2, 5, 3),
    }.items():
        x = rng.standard_normal((2, 3, 7, 6))
        W, b = rng.standard_normal((4, 3, kh, kw)), rng.standard_normal(4)
        tx, tW, tb = leaf(x), leaf(W), leaf(b)
        out = TF.conv2d(tx, tW, tb, stride=stride, padding=pad)
        dout = rng.standard_normal(tuple(out.shape))
        backward(out, dout)
        values = dict(x=x, W=W, b=b, dout=dout, out=out, dx=tx.grad, dW=tW.grad, db=tb.grad)
        values["settings"] = [stride, pad]
        for k, v in values.items():
            s[f"conv/{case}/{k}"] = v


POOLS = {"k2s2p0": (2, 2, 0), "k3s2p1": (3, 2, 1), "k2s1p1": (2, 1, 1), "k3s3p1": (3, 3, 1)}


def pooling(s: Store, rng: np.random.Generator) -> None:
    for kind, function in (("maxpool", TF.max_pool2d), ("avgpool", TF.avg_pool2d)):
        for case, (k, stride, pad) in POOLS.items():
            # Negative inputs: a padding filled with 0 instead of -inf would win max windows.
            x = rng.standard_normal((2, 3, 6, 7)) - 3.0
            tx = leaf(x)
            out = function(tx, k, stride, pad)  # avg: count_include_pad, padding counts as 0
            dout = rng.standard_normal(tuple(out.shape))
            backward(out, dout)
            for name, v in dict(x=x, dout=dout, out=out, dx=tx.grad).items():
                s[f"{kind}/{case}/{name}"] = v
            s[f"{kind}/{case}/settings"] = [k, stride, pad]


def batchnorm(s: Store, rng: np.random.Generator) -> None:
    momentum, eps = 0.9, 1e-5  # dlzero's: the running moments keep 0.9 of their old value
    for case, shape in {"dense": (6, 4), "spatial": (3, 2, 3, 4)}.items():
        features = shape[1]
        x = rng.standard_normal(shape) * 2 + 1
        gamma, beta = rng.uniform(0.5, 1.5, features), rng.standard_normal(features)
        mean0, var0 = rng.standard_normal(features) * 0.1, rng.uniform(0.5, 2.0, features)
        dout = rng.standard_normal(shape)
        tx, tg, tb = leaf(x), leaf(gamma), leaf(beta)
        running_mean, running_var = torch.tensor(mean0), torch.tensor(var0)
        out = TF.batch_norm(
            tx, running_mean, running_var, tg, tb, training=True, momentum=1 - momentum, eps=eps
        )
        backward(out, dout)
        axes = (0,) if len(shape) == 2 else (0, 2, 3)
        batch_var = torch.var(torch.tensor(x), dim=axes, unbiased=False)
        batch_mean = torch.mean(torch.tensor(x), dim=axes)
        aligned_var = momentum * torch.tensor(var0) + (1 - momentum) * batch_var
        aligned_mean = momentum * torch.tensor(mean0) + (1 - momentum) * batch_mean
        values = dict(
            x=x, gamma=gamma, beta=beta, running_mean0=mean0, running_var0=var0, dout=dout,
            out=out, dx=tx.grad, dgamma=tg.grad, dbeta=tb.grad, running_mean=aligned_mean,
            running_var=aligned_var, running_mean_torch=running_mean,
            running_var_torch=running_var,
        )  # fmt: skip
        # Inference: the running moments (the aligned ones) normalise.
        tx_eval = leaf(x)
        values["eval_out"] = TF.batch_norm(
            tx_eval, aligned_mean, aligned_var, tg.detach(), tb.detach(), training=False, eps=eps
        )
        for k, v in values.items():
            s[f"batchnorm/{case}/{k}"] = v


def dropout(s: Store, rng: np.random.Generator) -> None:
    """With a fixed mask: PyTorch's own dropout draws from its generator; the mask is the
    one thing that must be shared, then inverted dropout is x * mask / (1 - p)."""
    ratio = 0.3
    x, dout = rng.standard_normal((5, 6)), rng.standard_normal((5, 6))
    mask = rng.random((5, 6)) >= ratio
    tx = leaf(x)
    out = tx * torch.tensor(mask, dtype=torch.float64) / (1 - ratio)
    backward(out, dout)
    for k, v in dict(x=x, dout=dout, mask=mask, out=out, dx=tx.grad, ratio=ratio).items():
        s[f"dropout/{k}"] = v


def activations(s: Store, rng: np.random.Generator) -> None:
    x = rng.standard_normal((4, 6)) * 4
    x[0, :3] = [40.0, -40.0, 0.0]
    for name, function in {
        "sigmoid": torch.sigmoid,
        "relu": torch.relu,
        "tanh": torch.tanh,
        "softmax": lambda t: torch.softmax(t, dim=1),
    }.items():
        dout = rng.standard_normal(x.shape)
        tx = leaf(x)
        out = function(tx)
        backward(out, dout)
        for k, v in dict(x=x, dout=dout, out=out, dx=tx.grad).items():
            s[f"activation/{name}/{k}"] = v


def losses(s: Store, rng: np.random.Generator) -> None:
    n = 5
    logits = rng.standard_normal((n, 4)) * 3
    logits[0] = [40.0, -40.0, 18.0, 0.0]
    labels = np.array([1, 0, 3, 2, 2])
    cases = {
        # softmax + cross-entropy from the logits
        "softmax_ce": (logits, labels, lambda z, t: TF.cross_entropy(z, t)),
        # sigmoid + binary cross-entropy per unit, one-hot targets: summed over units,
        # averaged over the batch (dlzero's "cross_entropy" after a sigmoid output)
        "sigmoid_bce": (
            logits,
            labels,
            lambda z, t: (
                TF.binary_cross_entropy_with_logits(z, TF.one_hot(t, 4).double(), reduction="sum")
                / n
            ),
        ),
        # one sigmoid unit for two classes, with confident mistakes (logit 40, target 0)
        "sigmoid_bce_binary": (
            np.array([[40.0], [-40.0], [18.0], [0.3], [-2.0]]),
            np.array([0, 1, 0, 1, 0]),
            lambda z, t: TF.binary_cross_entropy_with_logits(z, t.double()[:, None]),
        ),
        # the book's sum of squares: 0.5 sum over units, mean over the batch
        "mse": (
            logits / 10,
            labels,
            lambda y, t: 0.5 * TF.mse_loss(y, TF.one_hot(t, 4).double(), reduction="sum") / n,
        ),
    }
    for case, (z, t, function) in cases.items():
        tz = leaf(z)
        loss = function(tz, torch.tensor(t))
        loss.backward()
        for k, v in dict(logits=z, labels=t, loss=loss, dlogits=tz.grad).items():
            s[f"loss/{case}/{k}"] = v


def network(s: Store, rng: np.random.Generator) -> None:
    """conv -> relu -> maxpool -> flatten -> dense, softmax + cross-entropy: the steps
    dlzero fuses (conv, ReLU and a tiling max pool run as one) against PyTorch's."""
    x, labels = rng.standard_normal((3, 1, 6, 6)), np.array([0, 3, 1])
    conv_W, conv_b = rng.standard_normal((2, 1, 3, 3)), rng.standard_normal(2)
    dense_W, dense_b = rng.standard_normal((18, 4)), rng.standard_normal(4)
    params = [leaf(a) for a in (conv_W, conv_b, dense_W, dense_b)]
    hidden = TF.max_pool2d(
        torch.relu(TF.conv2d(torch.tensor(x), params[0], params[1], padding=1)), 2
    )
    logits = TF.linear(hidden.flatten(1), params[2].T, params[3])
    loss = TF.cross_entropy(logits, torch.tensor(labels))
    loss.backward()
    values = dict(
        x=x, labels=labels, conv_W=conv_W, conv_b=conv_b, dense_W=dense_W, dense_b=dense_b,
        loss=loss, d_conv_W=params[0].grad, d_conv_b=params[1].grad,
        d_dense_W=params[2].grad, d_dense_b=params[3].grad,
    )  # fmt: skip
    for k, v in values.items():
        s[f"network/{k}"] = v


# --------------------------------------------------------------------------- optimizers

# (dlzero name, dlzero settings, PyTorch optimizer, its settings for the W and b groups)
OPTIMIZERS = {
    "sgd": ({"lr": 0.1}, torch.optim.SGD, {"lr": 0.1}),
    "sgd_wd": ({"lr": 0.1, "weight_decay": 0.05}, torch.optim.SGD, {"lr": 0.1}),
    "momentum": ({"lr": 0.05, "momentum": 0.9}, torch.optim.SGD, {"lr": 0.05, "momentum": 0.9}),
    "momentum_wd": (
        {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.05},
        torch.optim.SGD,
        {"lr": 0.05, "momentum": 0.9},
    ),
    "nesterov": (
        {"lr": 0.05, "momentum": 0.9},
        torch.optim.SGD,
        {"lr": 0.05, "momentum": 0.9, "nesterov": True},
    ),
    "nesterov_wd": (
        {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.05},
        torch.optim.SGD,
        {"lr": 0.05, "momentum": 0.9, "nesterov": True},
    ),
    "adagrad": ({"lr": 0.1, "eps": 1e-7}, torch.optim.Adagrad, {"lr": 0.1, "eps": 1e-7}),
    "rmsprop": (
        {"lr": 0.01, "decay_rate": 0.99, "eps": 1e-7},
        torch.optim.RMSprop,
        {"lr": 0.01, "alpha": 0.99, "eps": 1e-7},
    ),
    "adam": ({"lr": 0.05}, torch.optim.Adam, {"lr": 0.05, "eps": 1e-8}),
    "adam_wd": ({"lr": 0.05, "weight_decay": 0.05}, torch.optim.Adam, {"lr": 0.05, "eps": 1e-8}),
    "adamw": ({"lr": 0.05, "weight_decay": 0.1}, torch.optim.AdamW, {"lr": 0.05, "eps": 1e-8}),
}


def optimizers(s: Store, rng: np.random.Generator) -> None:
    """20 steps of each on a least-squares problem L = 0.5 ||X W + b - Y||^2 / N, whose
    gradient the test computes with NumPy: dW = X^T R / N, db = sum(R) / N, R = XW + b - Y.
    Weight decay applies to W only, as dlzero does (never to biases)."""
    n = 8
    X, Y = rng.standard_normal((n, 3)), rng.standard_normal((n, 2))
    W0, b0 = rng.standard_normal((3, 2)), rng.standard_normal(2)
    s["optim/X"], s["optim/Y"], s["optim/W0"], s["optim/b0"] = X, Y, W0, b0
    for case, (settings, optimizer_class, torch_settings) in OPTIMIZERS.items():
        W, b = leaf(W0), leaf(b0)
        decay = settings.get("weight_decay", 0.0)
        groups = [{"params": [W], "weight_decay": decay}, {"params": [b], "weight_decay": 0.0}]
        optimizer = optimizer_class(groups, **torch_settings)
        Ws, bs = [], []
        for _ in range(STEPS):
            optimizer.zero_grad()
            loss = 0.5 * ((torch.tensor(X) @ W + b - torch.tensor(Y)) ** 2).sum() / n
            loss.backward()
            optimizer.step()
            Ws.append(W.detach().numpy().copy())
            bs.append(b.detach().numpy().copy())
        s[f"optim/{case}/W"], s[f"optim/{case}/b"] = np.stack(Ws), np.stack(bs)
        s.arrays[f"optim/{case}/name"] = np.array(case.removesuffix("_wd"))
        s.settings(f"optim/{case}", settings)


# --------------------------------------------------------------------------- schedules


def schedules(s: Store) -> None:
    """The lr of epochs 1..E from torch.optim.lr_scheduler (stepped once per epoch)."""
    epochs, base = 12, 0.1
    # dlzero's name and settings for each (warmup_epochs as dlzero's schedule takes it)
    settings = {
        "constant": ("constant", {}),
        "step": ("step", {"step_size": 5, "gamma": 0.5}),
        "exponential": ("exponential", {"gamma": 0.8}),
        "cosine": ("cosine", {"min_lr": 0.001}),
        "warmup_cosine": ("cosine", {"min_lr": 0.001, "warmup_epochs": 3}),
    }
    cases = {
        "constant": lambda o: torch.optim.lr_scheduler.ConstantLR(o, factor=1.0),
        "step": lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=5, gamma=0.5),
        "exponential": lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.8),
        "cosine": lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(
            o, T_max=epochs, eta_min=0.001
        ),
        # A linear warmup over 3 epochs (k/3 of the lr in epoch k), then cosine over the rest.
        "warmup_cosine": lambda o: torch.optim.lr_scheduler.SequentialLR(
            o,
            [
                torch.optim.lr_scheduler.LinearLR(o, start_factor=1 / 3, total_iters=2),
                torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=epochs - 3, eta_min=0.001),
            ],
            milestones=[3],
        ),
    }
    for case, make in cases.items():
        optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=base)
        scheduler = make(optimizer)
        lrs = []
        for _ in range(epochs):
            lrs.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
        s[f"schedule/{case}/lr"] = lrs
        s.arrays[f"schedule/{case}/name"] = np.array(settings[case][0])
        s.settings(f"schedule/{case}", settings[case][1])
    s["schedule/epochs"], s["schedule/base_lr"] = epochs, base


# --------------------------------------------------------------------------- initialisers


def initialisers(s: Store) -> None:
    """Standard deviations of PyTorch's init functions, measured on large draws would be
    noisy: these are the std each function computes from its fans and gain. Dense layers
    as PyTorch's Linear (weight (out, in)), convolutions (F, C, kh, kw)."""
    for case, shape in {"dense": (50, 784), "conv": (30, 1, 5, 5)}.items():
        weight = torch.empty(shape)
        fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(weight)
        # Glorot's own, and the gain that makes it the book's sqrt(1/fan_in)
        glorot = torch.nn.init.calculate_gain("linear") * math.sqrt(2.0 / (fan_in + fan_out))
        book_gain = math.sqrt((fan_in + fan_out) / (2.0 * fan_in))
        xavier = book_gain * math.sqrt(2.0 / (fan_in + fan_out))
        he = torch.nn.init.calculate_gain("relu") / math.sqrt(fan_in)  # kaiming, fan_in
        for k, v in dict(
            fan_in=fan_in, fan_out=fan_out, glorot=glorot, xavier=xavier, he=he
        ).items():
            s[f"init/{case}/{k}"] = v


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    s = Store()
    rng = np.random.default_rng(20261130)
    families = (dense, conv, pooling, batchnorm, dropout, activations, losses, network)
    for family in (*families, optimizers):
        family(s, rng)
    schedules(s)
    initialisers(s)
    s["meta/torch_version"] = [int(p) for p in torch.__version__.split("+")[0].split(".")]
    np.savez(args.out, **s.arrays)
    size = args.out.stat().st_size
    print(f"{len(s.arrays)} arrays, {size:,} bytes -> {args.out} (torch {torch.__version__})")


if __name__ == "__main__":
    main()
