"""A NaN loss stops training at the step it appears (issue 12, section 1): the check of
the weights at each epoch's end is the backstop, not the first line of defence."""

from __future__ import annotations

import pytest

from dlzero_cli.config import load_config
from dlzero_cli.errors import TrainingDiverged
from dlzero_cli.runs.lifecycle import RunCallbacks, train_from_config


def test_a_nan_loss_stops_training_at_its_step_not_at_the_epochs_end(cli):
    # lr 1e308: the first step sends the weights to infinity, so the second step's loss
    # is nan; four samples at batch size 1 make four steps in the epoch.
    result = cli(
        "train", "xor-2-4-1", "--quiet", "--epochs", "1",
        "--set", "train.optimizer.lr=1e308", "--set", "train.batch_size=1",
    )  # fmt: skip
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert "training diverged: loss became nan (epoch 1, step 2)" in line
    assert "no epoch completed, so no weight file was written" in line


class BlowUpAtEpoch(RunCallbacks):
    """Scales every weight by 1e4 after the first step of `epoch`: the next loss is far
    beyond divergence_factor times the first, yet every weight stays finite."""

    def __init__(self, epoch: int) -> None:
        self.epoch, self.current, self.done = epoch, 0, False

    def run_started(self, folder, model, splits):
        self.model = model

    def epoch_started(self, epoch, epochs, steps):
        self.current = epoch

    def step_done(self, step, loss):
        if self.current == self.epoch and not self.done:
            for weights in self.model.network.named_params().values():
                weights *= 1e4
            self.done = True


def test_a_divergence_by_loss_names_the_last_completed_epochs_weights(tmp_path):
    config = load_config("digits-64-50-100-10", ["train.epochs=3", "data.limit=300"])
    with pytest.raises(TrainingDiverged) as info:
        train_from_config(config, tmp_path, BlowUpAtEpoch(2))
    message = str(info.value)
    assert "times the first batch's" in message, message
    [run] = tmp_path.iterdir()
    assert f"the last completed epoch's weights (epoch 1) are in {run / 'last.npz'}" in message
    assert "finite" not in message.split(";")[-1]


def test_a_divergence_in_the_first_epoch_says_no_epoch_completed(tmp_path):
    config = load_config("digits-64-50-100-10", ["train.epochs=3", "data.limit=300"])
    with pytest.raises(TrainingDiverged) as info:
        train_from_config(config, tmp_path, BlowUpAtEpoch(1))
    message = str(info.value)
    assert message.endswith("no epoch completed, so no weight file was written"), message
