"""A NaN loss stops training at the step it appears (issue 12, section 1): the check of
the weights at each epoch's end is the backstop, not the first line of defence."""

from __future__ import annotations


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
    assert "no epoch completed with finite weights, so no weight file was written" in line
