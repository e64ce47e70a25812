"""`dlzero summary`: the layers of a config's network, their shapes and costs."""

from __future__ import annotations

import typer

from dlzero_cli.cli import app
from dlzero_cli.cli.common import handles_errors, stdout


@app.command("summary")
@handles_errors
def summary_command(
    config: str = typer.Argument(
        None,
        help="A YAML config file or a shipped config's name [default: the default].",
        show_default=False,
    ),
    set_: list[str] = typer.Option([], "--set", help="Override a config value (repeatable)."),
) -> None:
    """Print each layer with its output shape (batch first), parameters and multiply-adds.

    ```
    dlzero summary simple-convnet-mnist
    dlzero summary mnist-784-50-100-10 --set train.batch_size=1
    ```
    """
    import numpy as np

    from dlzero_cli.cli.tables import network_table
    from dlzero_cli.config import load_config
    from dlzero_cli.data.catalog import DATASETS
    from dlzero_cli.model import Model

    loaded = load_config(config, set_)
    cfg = loaded.config
    dataset = DATASETS.get(cfg.data.dataset)
    model = Model.from_config(cfg, dataset, np.random.default_rng(cfg.seed))
    rows = model.network.summary(dataset.input_shape)
    title = f"{cfg.name}: {dataset.name}, output {cfg.model.output}, loss {cfg.loss}"
    stdout.print(network_table(rows, dataset.input_shape, cfg.train.batch_size, title))
