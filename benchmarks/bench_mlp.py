"""Training and inference throughput of the engine on the book's 784-50-100-10 network.

Random data of MNIST's shape (uint8 pixels, scaled per batch as in training), sigmoid
hidden layers, softmax + cross-entropy, SGD lr 0.1, batch 100: the seed's workload.
When PyTorch is importable the same network runs in PyTorch (CPU, float32) in the same
process and the ratio is printed.

    python benchmarks/bench_mlp.py [--samples 60000] [--epochs 3] [--threads 2] [--rounds 3]

PyTorch is a yardstick only, never a dependency: install it in a separate venv
(`pip install torch==2.13.0`) together with this project.
"""

from __future__ import annotations

import time

import numpy as np
from comparison import compare, options  # benchmarks/comparison.py, beside this script

from dlzero_cli.config import Config
from dlzero_cli.data.datasets import Arrays, Dataset
from dlzero_cli.model import Model
from dlzero_cli.training import fit

SIZES = (784, 50, 100, 10)
BATCH = 100
LR = 0.1


def make_data(samples: int, seed: int = 0) -> Arrays:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(samples, SIZES[0]), dtype=np.uint8)
    return Arrays(x, rng.integers(0, SIZES[-1], size=samples))


def make_model() -> tuple[Model, Config]:
    config = Config.model_validate(
        {
            "name": "bench",
            "data": {"dataset": "digits", "validation": 0},
            "model": {"layers": "-".join(map(str, SIZES)), "activation": "sigmoid"},
            "train": {"batch_size": BATCH, "optimizer": {"name": "sgd", "lr": LR}},
        }
    )
    mnist_like = Dataset(
        name="mnist-shaped",
        description="random data of MNIST's shape",
        input_shape=(SIZES[0],),
        class_names=tuple(map(str, range(SIZES[-1]))),
        pixel_max=255.0,
        license="-",
        source="generated",
    )
    return Model.from_config(config, mnist_like, np.random.default_rng(0)), config


def bench_dlzero(data: Arrays, epochs: int) -> tuple[float, float]:
    model, config = make_model()
    settings = config.train.model_copy(update={"epochs": 1})
    rng = np.random.default_rng(0)
    fit(model, data.take(np.arange(2000)), None, settings, rng)  # warm-up
    started = time.perf_counter()
    fit(model, data, None, settings.model_copy(update={"epochs": epochs}), rng)
    train_rate = epochs * len(data) / (time.perf_counter() - started)
    model.class_scores(data.x[:1000], batch_size=BATCH)
    started = time.perf_counter()
    model.class_scores(data.x, batch_size=BATCH)
    infer_rate = len(data) / (time.perf_counter() - started)
    return train_rate, infer_rate


def bench_torch(data: Arrays, epochs: int, threads: int) -> tuple[float, float] | None:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    layers = []
    for i, (n_in, n_out) in enumerate(zip(SIZES[:-1], SIZES[1:], strict=True)):
        layers.append(torch.nn.Linear(n_in, n_out))
        if i < len(SIZES) - 2:
            layers.append(torch.nn.Sigmoid())
    net = torch.nn.Sequential(*layers)
    loss_fn = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(net.parameters(), lr=LR)
    x_all = torch.from_numpy(data.x)
    y_all = torch.from_numpy(data.y)
    generator = torch.Generator().manual_seed(0)

    def epoch(n: int) -> None:
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, BATCH):
            idx = order[start : start + BATCH]
            x = x_all[idx].float() / 255.0
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(net(x), y_all[idx])
            loss.backward()
            optimizer.step()

    epoch(2000)  # warm-up
    started = time.perf_counter()
    for _ in range(epochs):
        epoch(len(data))
    train_rate = epochs * len(data) / (time.perf_counter() - started)
    with torch.inference_mode():
        net(x_all[:1000].float() / 255.0)
        started = time.perf_counter()
        for start in range(0, len(data), BATCH):
            torch.softmax(net(x_all[start : start + BATCH].float() / 255.0), dim=1)
        infer_rate = len(data) / (time.perf_counter() - started)
    return train_rate, infer_rate


def main() -> None:
    args = options(__doc__.splitlines()[0], samples=60_000, epochs=3).parse_args()
    data = make_data(args.samples)
    print(f"784-50-100-10 sigmoid, SGD, batch {BATCH}, float32, {args.samples} samples x "
          f"{args.epochs} epochs, {args.threads} threads, "
          f"best of {args.rounds} rounds")  # fmt: skip
    compare(
        args.rounds,
        lambda round_: bench_dlzero(data, args.epochs),
        lambda: bench_torch(data, args.epochs, args.threads),
    )


if __name__ == "__main__":
    main()
