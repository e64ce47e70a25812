"""PNG figures: training curves, confusion matrices, misclassified-image grids.

matplotlib is imported inside `_pyplot` on first use, with the Agg backend (no
display needed): it costs a few hundred milliseconds that `dlzero --help`, `predict`
and anything else that draws nothing should not pay. Files are written atomically.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dlzero_cli.atomic import atomic_open


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _whole_numbers() -> Any:
    """Ticks at whole numbers only: there is no epoch 2.5."""
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)


def _save(fig: Any, path: Path) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    with atomic_open(path, "wb") as f:
        f.write(buffer.getvalue())


def plot_curves(records: Sequence[dict[str, Any]], path: Path, title: str) -> None:
    """Loss and accuracy per epoch, train against validation (when there is one)."""
    plt = _pyplot()
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 4))
    epochs = [r["epoch"] for r in records]
    for ax, metric, label in ((loss_ax, "loss", "loss"), (acc_ax, "acc", "accuracy")):
        ax.plot(epochs, [r[f"train_{metric}"] for r in records], label="train", marker=".")
        val = [r[f"val_{metric}"] for r in records]
        if any(v is not None for v in val):
            ax.plot(epochs, [np.nan if v is None else v for v in val], label="validation",
                    marker=".")  # fmt: skip
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(_whole_numbers())
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    if not records:
        loss_ax.text(0.5, 0.5, "no completed epoch", ha="center", transform=loss_ax.transAxes)
    fig.suptitle(title)
    _save(fig, path)


def plot_confusion(confusion: np.ndarray, class_names: Sequence[str], path: Path, title: str):
    """Counts per (true, predicted) class, with the diagonal (correct) readable at a glance."""
    plt = _pyplot()
    n = len(class_names)
    size = max(4.0, 0.6 * n + 2)
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    image = ax.imshow(confusion, cmap="Blues")
    ax.set_xticks(range(n), class_names, rotation=45, ha="right")
    ax.set_yticks(range(n), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    threshold = confusion.max() / 2 if confusion.size else 0
    for i in range(n):
        for j in range(n):
            color = "white" if confusion[i, j] > threshold else "black"
            ax.text(j, i, str(confusion[i, j]), ha="center", va="center", color=color, fontsize=8)
    fig.colorbar(image, ax=ax, fraction=0.046)
    ax.set_title(title)
    _save(fig, path)


def plot_misclassified(
    images: np.ndarray,
    true: Sequence[int],
    predicted: Sequence[int],
    confidence: Sequence[float],
    class_names: Sequence[str],
    path: Path,
    title: str,
) -> None:
    """A grid of inputs the model got wrong, most confident first (as in the book's ch. 8)."""
    plt = _pyplot()
    count = len(true)
    cols = min(5, max(count, 1))
    rows = max(1, -(-count // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.5 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, t, p, c in zip(axes.flat, images, true, predicted, confidence, strict=False):
        picture = image[0] if image.ndim == 3 else np.atleast_2d(image.reshape(-1))
        ax.imshow(picture, cmap="gray_r", interpolation="nearest")
        ax.set_title(f"true {class_names[t]}\npred {class_names[p]} ({c:.0%})", fontsize=9)
    if count == 0:
        axes[0, 0].text(0.5, 0.5, "no misclassified samples", ha="center", va="center")
    fig.suptitle(title)
    _save(fig, path)


def plot_comparison(
    runs: Sequence[tuple[str, Sequence[dict[str, Any]]]], path: Path, title: str
) -> None:
    """Several runs' loss and accuracy per epoch overlaid: one colour per run, train
    dashed, validation solid. A run without epochs is named in the legend as such."""
    plt = _pyplot()
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(12, 4.5))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, (name, records) in enumerate(runs):
        color = colors[index % len(colors)]
        if not records:
            loss_ax.plot([], [], color=color, label=f"{name} (no epochs)")
            continue
        epochs = [r["epoch"] for r in records]
        for ax, metric in ((loss_ax, "loss"), (acc_ax, "acc")):
            ax.plot(epochs, [r[f"train_{metric}"] for r in records], color=color,
                    linestyle="--", alpha=0.7, label=f"{name} train")  # fmt: skip
            val = [r[f"val_{metric}"] for r in records]
            if any(v is not None for v in val):
                ax.plot(epochs, [np.nan if v is None else v for v in val], color=color,
                        label=f"{name} validation")  # fmt: skip
    for ax, label in ((loss_ax, "loss"), (acc_ax, "accuracy")):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(_whole_numbers())
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    handles, labels = loss_ax.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=8,
                   bbox_to_anchor=(0.5, -0.02 - 0.035 * ((len(labels) + 1) // 2)))  # fmt: skip
    fig.suptitle(title)
    _save(fig, path)


def plot_activations(activations: Sequence[tuple[str, np.ndarray]], path: Path, title: str):
    """One histogram per hidden activation layer, side by side on a shared value axis,
    as the book's figures 6-10 to 6-14 (30 bins; the share of samples per bin)."""
    plt = _pyplot()
    count = max(1, len(activations))
    fig, axes = plt.subplots(1, count, figsize=(2.6 * count + 0.6, 3.2), squeeze=False, sharey=True)
    values = [np.ravel(v) for _, v in activations]
    finite = [v[np.isfinite(v)] for v in values]
    low = min((float(v.min()) for v in finite if v.size), default=0.0)
    high = max((float(v.max()) for v in finite if v.size), default=1.0)
    if high <= low:
        high = low + 1.0
    for ax, (label, _), data in zip(axes[0], activations, finite, strict=False):
        weights = np.full(data.size, 1.0 / max(data.size, 1))
        ax.hist(data, bins=30, range=(low, high), weights=weights, color="tab:blue")
        ax.set_title(label, fontsize=9)
        ax.set_xlabel(f"output (std {data.std():.3g})" if data.size else "output", fontsize=9)
    axes[0, 0].set_ylabel("share of outputs")
    if not activations:
        axes[0, 0].text(0.5, 0.5, "no hidden activation layers", ha="center", va="center",
                        transform=axes[0, 0].transAxes)  # fmt: skip
    fig.suptitle(title, y=1.02)
    _save(fig, path)


def plot_sweep(
    curves: Sequence[tuple[str, Sequence[dict[str, Any]]]],
    scatter: dict[str, tuple[Sequence[tuple[Any, float]], bool, bool]],
    metric: str,
    best: dict[str, tuple[Any, float]] | None,
    path: Path,
    title: str,
) -> None:
    """A hyperparameter search as the book draws it (chapter 6): the best trials'
    curves per epoch (validation solid, training dashed), then one panel per searched
    key with each trial's value against the metric (`scatter[key]` = (points, numeric,
    log axis)); the best trial is a red star."""
    plt = _pyplot()
    from matplotlib.ticker import LogLocator, NullFormatter

    panels = 1 + len(scatter)
    cols = min(3, panels)
    rows = -(-panels // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.6 * rows), squeeze=False)
    for ax in axes.flat[panels:]:
        ax.axis("off")
    kind = "loss" if metric.endswith("loss") else "acc"
    ax = axes.flat[0]
    for number, (label, records) in enumerate(curves):
        color = f"C{number}"
        epochs = [r["epoch"] for r in records]
        ax.plot(epochs, [np.nan if r[f"val_{kind}"] is None else r[f"val_{kind}"]
                         for r in records], color=color, label=label)  # fmt: skip
        ax.plot(epochs, [r[f"train_{kind}"] for r in records], color=color, linestyle="--",
                alpha=0.6)  # fmt: skip
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{'loss' if kind == 'loss' else 'accuracy'} (validation solid, train dashed)")
    ax.set_title(f"best {len(curves)} trials")
    ax.grid(alpha=0.3)
    if curves:
        ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, "no completed trial", ha="center", transform=ax.transAxes)
    for ax, (key, (points, numeric, log)) in zip(axes.flat[1:], scatter.items(), strict=False):
        xs = [x for x, _ in points]
        ys = [y for _, y in points]
        positions: dict[str, int] = {}
        if not numeric:  # categories (activations, layer lists): one column each
            positions = {text: i for i, text in enumerate(dict.fromkeys(map(str, xs)))}
            xs = [positions[str(x)] for x in xs]
            ax.set_xticks(list(positions.values()), list(positions), rotation=20)
        ax.scatter(xs, ys, s=18, alpha=0.7)
        if best is not None and key in best:
            bx, by = best[key]
            ax.scatter([positions.get(str(bx), bx) if positions else bx], [by], s=140,
                       marker="*", color="red", label="best", zorder=3)  # fmt: skip
            ax.legend(fontsize=7)
        if log:
            ax.set_xscale("log")
            # Labels at 1, 2 and 5 of each decade only: a range under two decades
            # otherwise labels every minor tick, one over the other.
            ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0), numticks=8))
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(key)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    _save(fig, path)
