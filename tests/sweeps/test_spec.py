"""The sweep file: trial counting (grid, random, mixed), seeding, and how trial configs
are validated and located."""

from __future__ import annotations

import itertools

import pytest

from dlzero_cli.config.loading import load_config
from dlzero_cli.config.source import Override
from dlzero_cli.errors import ConfigError
from dlzero_cli.sweeps.spec import (
    MAX_TRIALS,
    SEED_LIMIT,
    generate_trials,
    load_sweep,
    plan_sweep,
    trial_count,
)

HEAD = "base: digits-64-50-100-10\nname: s\ntrials: 4\nseed: 3\nspace:\n"


def sweep_of(write_config, space: str, head: str = HEAD):
    return load_sweep(str(write_config(head + space, "sweep.yaml")))


def test_a_grid_runs_every_combination_and_ignores_trials(write_config):
    sweep = sweep_of(
        write_config, "  train.batch_size: [16, 32]\n  model.activation: [relu, tanh, sigmoid]\n"
    )
    trials = generate_trials(sweep)
    assert sweep.kind == "grid" and trial_count(sweep) == len(trials) == 6
    combos = {(t.values["train.batch_size"], t.values["model.activation"]) for t in trials}
    assert combos == set(itertools.product([16, 32], ["relu", "tanh", "sigmoid"]))
    assert trial_count(sweep, draws=50) == 6


def test_random_draws_trials_values_within_their_ranges(write_config):
    space = (
        "  train.optimizer.lr: {loguniform: [1.0e-4, 1.0e-1]}\n"
        "  train.optimizer.momentum: {uniform: [0.5, 0.9]}\n"
        "  train.epochs: {int: [2, 4]}\n"
        "  model.activation: {choice: [relu, tanh]}\n"
    )
    sweep = sweep_of(write_config, space.replace("train.optimizer.momentum", "data.validation"))
    trials = generate_trials(sweep, draws=200)
    assert sweep.kind == "random" and len(trials) == 200 and trial_count(sweep) == 4
    lrs = [t.values["train.optimizer.lr"] for t in trials]
    assert all(1e-4 <= v <= 1e-1 for v in lrs)
    # Log-uniform: about as many draws in each decade.
    per_decade = [sum(lo <= v < lo * 10 for v in lrs) for lo in (1e-4, 1e-3, 1e-2)]
    assert min(per_decade) > 40, per_decade
    assert all(0.5 <= t.values["data.validation"] <= 0.9 for t in trials)
    assert {t.values["train.epochs"] for t in trials} == {2, 3, 4}  # both ends included
    assert {t.values["model.activation"] for t in trials} == {"relu", "tanh"}
    assert all(0 <= t.seed < SEED_LIMIT for t in trials)
    assert len({t.seed for t in trials}) == 200


def test_mixed_draws_trials_at_every_grid_point(write_config):
    space = "  train.optimizer.lr: {loguniform: [1.0e-3, 1.0]}\n  train.batch_size: [16, 32, 64]\n"
    sweep = sweep_of(write_config, space)
    trials = generate_trials(sweep)
    assert sweep.kind == "mixed" and len(trials) == 12
    sizes = [t.values["train.batch_size"] for t in trials]
    assert {s: sizes.count(s) for s in set(sizes)} == {16: 4, 32: 4, 64: 4}
    assert len(generate_trials(sweep, draws=2)) == 6


def test_trial_i_depends_on_the_sweep_seed_and_i_only(write_config):
    space = "  train.optimizer.lr: {loguniform: [1.0e-3, 1.0]}\n"
    sweep = sweep_of(write_config, space)
    few, many = generate_trials(sweep, draws=3), generate_trials(sweep, draws=10)
    assert few == many[:3] == generate_trials(sweep, draws=3)
    other = sweep_of(write_config, space, HEAD.replace("seed: 3", "seed: 4"))
    assert generate_trials(other, draws=3) != few
    # Adding a key drawn after lr changes neither lr nor the run seeds.
    wider = sweep_of(write_config, space + "  train.optimizer.momentum: {uniform: [0.1, 0.9]}\n")
    for a, b in zip(few, generate_trials(wider, draws=3), strict=True):
        assert (a.seed, a.values["train.optimizer.lr"]) == (b.seed, b.values["train.optimizer.lr"])


def test_each_trial_config_gets_its_values_seed_and_name(write_config):
    sweep = sweep_of(write_config, "  train.optimizer.lr: {loguniform: [1.0e-3, 1.0]}\n")
    plan = plan_sweep(sweep, draws=2)
    for planned in plan.trials:
        trial, config = planned.trial, planned.config
        assert config["train"]["optimizer"]["lr"] == trial.values["train.optimizer.lr"]
        assert config["seed"] == trial.seed
        assert config["name"] == f"s-trial-{trial.index:04d}"
    assert plan.datasets == ["digits"]


def test_the_trial_limit_is_enforced_before_any_config_is_built(write_config):
    values = "[" + ", ".join(str(i + 1) for i in range(40)) + "]"
    sweep = sweep_of(write_config, f"  train.epochs: {values}\n  train.batch_size: {values}\n")
    assert trial_count(sweep) == 1600 > MAX_TRIALS
    with pytest.raises(ConfigError, match=r"sweep\.yaml:5: space: 1,600 trials .*at most 1,000"):
        plan_sweep(sweep)


def test_an_override_carries_its_own_location(write_config):
    base = "digits-64-50-100-10"
    with pytest.raises(ConfigError) as caught:
        load_config(base, [Override(("train", "optimzer", "lr"), 0.1, "sweep.yaml:8")])
    assert str(caught.value).startswith(
        "sweep.yaml:8: train.optimzer: unknown key; allowed here: epochs,"
    )
    assert str(caught.value).endswith("did you mean 'optimizer'?")
    with pytest.raises(ConfigError, match=r"^sweep\.yaml:9: train\.epochs: got -1"):
        load_config(base, [Override(("train", "epochs"), -1, "sweep.yaml:9")])
    # --set keeps its own form.
    with pytest.raises(ConfigError, match=r"^--set train\.optimzer\.lr=1: train\.optimzer: unk"):
        load_config(base, ["train.optimzer.lr=1"])


def test_a_shipped_sweep_is_found_by_name_and_its_base_by_shipped_name():
    sweep = load_sweep("ch6-lr-decay")
    assert sweep.base_path.name == "ch6-hyperparameter-search.yaml"
    assert sweep.kind == "random" and sweep.trials == 100
    assert [d.dotted for d in sweep.space] == ["train.optimizer.lr", "train.optimizer.weight_decay"]
    assert all(d.axis.log_scale for d in sweep.space)


def test_shipped_configs_still_list_only_top_level_configs():
    from dlzero_cli.config.loading import shipped_configs, shipped_sweeps

    assert "ch6-lr-decay" not in shipped_configs()
    assert "ch6-lr-decay" in shipped_sweeps()
    assert "ch6-hyperparameter-search" in shipped_configs()
