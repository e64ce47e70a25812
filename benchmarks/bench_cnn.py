"""Training and inference throughput of the book's SimpleConvNet, dlzero against PyTorch.

conv 30x5x5 -> ReLU -> max-pool 2 -> dense 100 -> ReLU -> dense 10, softmax +
cross-entropy, Adam, batch 100, float32, random data of MNIST's shape. When PyTorch
is importable the same network runs in PyTorch (CPU, float32, the same number of
threads) in the same process and the ratios are printed.

    python benchmarks/bench_cnn.py [--samples 10000] [--epochs 2] [--rounds 3] [--profile]

PyTorch is a yardstick only, never a dependency: install it in a separate venv
(`pip install torch==2.13.0`) together with this project.
"""

from __future__ import annotations

import cProfile
import pstats
import time

import numpy as np
from comparison import compare, options  # benchmarks/comparison.py, beside this script

from dlzero_cli.config import Config
from dlzero_cli.data.datasets import Arrays, Dataset
from dlzero_cli.model import Model
from dlzero_cli.training import fit

BATCH = 100
LAYERS = [
    {"conv": {"filters": 30, "kernel": 5}},
    "relu",
    {"maxpool": 2},
    {"dense": 100},
    "relu",
    {"dense": 10},
]
MNIST_SHAPED = Dataset(
    name="mnist-shaped",
    description="random data of MNIST's shape",
    input_shape=(1, 28, 28),
    class_names=tuple(map(str, range(10))),
    pixel_max=255.0,
    license="-",
    source="generated",
)


def make_data(samples: int, seed: int = 0) -> Arrays:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(samples, 1, 28, 28), dtype=np.uint8)
    return Arrays(x, rng.integers(0, 10, size=samples))


def make_model() -> tuple[Model, Config]:
    config = Config.model_validate(
        {
            "name": "bench",
            "data": {"dataset": "digits", "validation": 0},
            "model": {"layers": LAYERS},
            "train": {"batch_size": BATCH, "optimizer": {"name": "adam", "lr": 0.001}},
        }
    )
    return Model.from_config(config, MNIST_SHAPED, np.random.default_rng(0)), config


def bench_dlzero(data: Arrays, epochs: int, profile: bool) -> tuple[float, float]:
    model, config = make_model()
    settings = config.train.model_copy(update={"epochs": 1})
    rng = np.random.default_rng(0)
    fit(model, data.take(np.arange(1000)), None, settings, rng)  # warm-up
    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    fit(model, data, None, settings.model_copy(update={"epochs": epochs}), rng)
    if profiler:
        profiler.disable()
    train_rate = epochs * len(data) / (time.perf_counter() - started)
    model.class_scores(data.x[:1000], batch_size=BATCH)
    started = time.perf_counter()
    model.class_scores(data.x, batch_size=BATCH)
    infer_rate = len(data) / (time.perf_counter() - started)
    if profiler:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(12)
    return train_rate, infer_rate


def bench_torch(data: Arrays, epochs: int, threads: int) -> tuple[float, float] | None:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 30, 5),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(4320, 100),
        torch.nn.ReLU(),
        torch.nn.Linear(100, 10),
    )
    loss_fn = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(net.parameters(), lr=0.001)
    x_all, y_all = torch.from_numpy(data.x), torch.from_numpy(data.y)
    generator = torch.Generator().manual_seed(0)

    def epoch(n: int) -> None:
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, BATCH):
            idx = order[start : start + BATCH]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(net(x_all[idx].float() / 255.0), y_all[idx])
            loss.backward()
            optimizer.step()

    epoch(1000)  # warm-up
    started = time.perf_counter()
    for _ in range(epochs):
        epoch(len(data))
    train_rate = epochs * len(data) / (time.perf_counter() - started)
    net.eval()
    with torch.inference_mode():
        net(x_all[:1000].float() / 255.0)
        started = time.perf_counter()
        for start in range(0, len(data), BATCH):
            torch.softmax(net(x_all[start : start + BATCH].float() / 255.0), dim=1)
        infer_rate = len(data) / (time.perf_counter() - started)
    return train_rate, infer_rate


def main() -> None:
    parser = options(__doc__.splitlines()[0], samples=10_000, epochs=2)
    parser.add_argument("--profile", action="store_true", help="cProfile dlzero's training")
    args = parser.parse_args()
    data = make_data(args.samples)
    print(f"SimpleConvNet, Adam, batch {BATCH}, float32, {args.samples} samples x "
          f"{args.epochs} epochs, {args.threads} threads, "
          f"best of {args.rounds} rounds")  # fmt: skip
    compare(
        args.rounds,
        lambda round_: bench_dlzero(data, args.epochs, args.profile and round_ == 0),
        lambda: bench_torch(data, args.epochs, args.threads),
        unit="images/s",
    )


if __name__ == "__main__":
    main()
