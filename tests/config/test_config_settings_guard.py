"""Cross-key rules that once let a mistake through silently: a setting the chosen
optimizer or schedule does not take, and a warm-up as long as the training."""

from __future__ import annotations

import pytest

from dlzero_cli.config import load_config
from dlzero_cli.config.schema import OptimizerConfig, ScheduleConfig
from dlzero_cli.engine.optim import OPTIMIZERS
from dlzero_cli.engine.schedules import SCHEDULES, lr_for_epoch
from dlzero_cli.engine.schedules import settings_of as schedule_settings
from dlzero_cli.errors import ConfigError

VALID = {
    "lr": 0.1,
    "momentum": 0.5,
    "beta1": 0.5,
    "beta2": 0.5,
    "eps": 1.0e-7,
    "decay_rate": 0.5,
    "weight_decay": 0.01,
    "warmup_epochs": 1,
    "step_size": 2,
    "gamma": 0.5,
    "min_lr": 0.001,
}


def config_with(section: str, name: str, key: str) -> str:
    return (
        "name: g\nmodel: {layers: 64-10}\ntrain:\n  epochs: 5\n"
        f"  {section}:\n    name: {name}\n    {key}: {VALID[key]}\n"
    )


OPTIMIZER_PAIRS = [
    (name, key)
    for name in OPTIMIZERS.names()
    for key in OptimizerConfig.model_fields
    if key != "name"
]
SCHEDULE_PAIRS = [
    (name, key)
    for name in SCHEDULES.names()
    for key in ScheduleConfig.model_fields
    if key != "name"
]


def test_the_pairs_cover_every_setting_and_choice():
    assert VALID.keys() >= set(OptimizerConfig.model_fields) - {"name"}
    assert VALID.keys() >= set(ScheduleConfig.model_fields) - {"name"}
    assert ("adam", "momentum") in OPTIMIZER_PAIRS


@pytest.mark.parametrize(("name", "key"), OPTIMIZER_PAIRS)
def test_an_optimizer_setting_is_used_or_refused_at_its_line(write_config, name, key):
    path = write_config(config_with("optimizer", name, key))
    takes = OPTIMIZERS.get(name).hyperparameters()
    if key in takes:
        options = load_config(str(path)).config.train.optimizer.options()
        assert options[key] == VALID[key]
        return
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    assert str(info.value) == (
        f"{path}:7: train.optimizer.{key}: not a setting of optimizer {name!r}, which "
        f"takes: {', '.join(takes)}"
    )


@pytest.mark.parametrize(("name", "key"), SCHEDULE_PAIRS)
def test_a_schedule_setting_is_used_or_refused_at_its_line(write_config, name, key):
    path = write_config(config_with("schedule", name, key))
    takes = {"warmup_epochs": 0, **schedule_settings(name)}
    if key in takes:
        options = load_config(str(path)).config.train.schedule.options()
        assert options[key] == VALID[key]
        return
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    assert str(info.value) == (
        f"{path}:7: train.schedule.{key}: not a setting of schedule {name!r}, which "
        f"takes: {', '.join(takes)}"
    )


def test_adam_with_momentum_names_the_key_given_by_set():
    with pytest.raises(ConfigError) as info:
        load_config(
            "ch6-optimizer-adam", ["train.optimizer.momentum=0.9"]
        )  # the reproducer
    assert str(info.value).startswith(
        "--set train.optimizer.momentum=0.9: train.optimizer.momentum: not a setting of "
        "optimizer 'adam'"
    )


@pytest.mark.parametrize("schedule", ["constant", "step", "cosine", "exponential"])
def test_a_warmup_as_long_as_the_training_is_refused(write_config, schedule):
    """lr_for_epoch warms up through every epoch when warmup_epochs == epochs: the
    schedule would never run, silently. The config refuses it at the key's line."""
    text = (
        "name: g\nmodel: {layers: 64-10}\ntrain:\n  epochs: 4\n  schedule:\n"
        f"    name: {schedule}\n    warmup_epochs: 4\n"
    )
    path = write_config(text)
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    assert str(info.value) == (
        f"{path}:7: train.schedule.warmup_epochs: got 4; the warmup must end before the "
        "last epoch (train.epochs is 4)"
    )
    # What it would have meant: every epoch a warm-up epoch, the schedule never reached.
    lrs = [lr_for_epoch(schedule, 1.0, e, 4, 4, **_settings(schedule)) for e in range(1, 5)]
    assert lrs == [0.25, 0.5, 0.75, 1.0]


def test_a_warmup_one_shorter_than_the_training_reaches_the_schedule(write_config):
    text = (
        "name: g\nmodel: {layers: 64-10}\ntrain:\n  epochs: 4\n  schedule:\n"
        "    name: step\n    warmup_epochs: 3\n    step_size: 1\n    gamma: 0.5\n"
    )
    schedule = load_config(str(write_config(text))).config.train.schedule
    assert schedule.warmup_epochs == 3
    lrs = [lr_for_epoch("step", 1.0, e, 4, **schedule.options()) for e in range(1, 5)]
    assert lrs == pytest.approx([1 / 3, 2 / 3, 1.0, 1.0])  # epoch 4: the schedule's first


def test_the_epoch_count_given_by_set_is_checked_against_the_warmup(write_config):
    text = (
        "name: g\nmodel: {layers: 64-10}\ntrain:\n  schedule: {name: constant, warmup_epochs: 3}\n"
    )
    with pytest.raises(ConfigError, match=r":4: train\.schedule\.warmup_epochs: got 3; .*is 3\)$"):
        load_config(str(write_config(text)), ["train.epochs=3"])


def _settings(schedule: str) -> dict:
    return dict(schedule_settings(schedule))
