"""The memory check: a network too large for this machine is one config error line, found
before anything is allocated; the estimate stays close to what training really uses."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from dlzero_cli.config import footprint, load_config
from dlzero_cli.config.layers import compile_layers, parse_settings, split_entry
from dlzero_cli.config.rules import compile_model, model_footprint
from dlzero_cli.data.catalog import DATASETS
from dlzero_cli.data.datasets import Arrays
from dlzero_cli.engine.layers import LAYERS
from dlzero_cli.engine.optim import OPTIMIZERS
from dlzero_cli.errors import ConfigError
from dlzero_cli.evaluation import evaluate
from dlzero_cli.model import Model, summarize
from dlzero_cli.training import fit

GB = 10**9


@pytest.fixture
def machine(monkeypatch):
    """Pretend the machine has `gigabytes` available."""

    def set_available(gigabytes: float | None) -> None:
        value = None if gigabytes is None else int(gigabytes * GB)
        monkeypatch.setattr(footprint, "available_bytes", lambda: value)

    return set_available


def peak_bytes(action) -> int:
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        action()
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


QUIET = ["train.epochs=1", "train.divergence_factor=1e9"]


@pytest.mark.parametrize(
    ("config", "overrides"),
    [
        ("digits-64-50-100-10", ["model.layers=64-2000-1000-10", "data.validation=0"]),
        (
            "digits-64-50-100-10",
            ["model.layers=64-2000-1000-10", "data.validation=0", "train.optimizer.name=adam",
             "train.dtype=float64"],
        ),
        ("simple-convnet-mnist", ["train.batch_size=50", "train.early_stopping.metric=train_loss"]),
        ("deep-convnet-mnist", ["train.batch_size=20", "train.early_stopping.metric=train_loss"]),
    ],
)  # fmt: skip
def test_the_estimate_is_within_a_factor_of_what_training_allocates(config, overrides):
    """The estimate against the peak NumPy allocations (tracemalloc) of building the
    model, training one epoch of two batches and evaluating a batch of 100: measured
    1.42, 1.30, 1.65 and 1.26 times the peak (the 1.25 margin included)."""
    loaded = load_config(config, [*QUIET, *overrides]).config
    dataset = DATASETS.get(loaded.data.dataset)
    estimate = model_footprint(loaded, dataset)
    rng = np.random.default_rng(0)
    n = max(estimate.batch * 2, 100)
    x = rng.integers(0, 16, (n, *dataset.input_shape)).astype(np.uint8)
    train = Arrays(x, rng.integers(0, dataset.classes, n))

    def build_train_evaluate():
        model = Model.from_config(loaded, dataset, rng)
        fit(model, train.take(np.arange(estimate.batch * 2)), None, loaded.train, rng)
        evaluate(model, train.take(np.arange(100)))

    peak = peak_bytes(build_train_evaluate)
    assert peak <= estimate.total <= 2 * peak, (estimate.total / peak, estimate, peak)


def test_a_huge_set_is_refused_at_the_set_with_what_it_needs_and_what_there_is(machine):
    machine(16)
    overrides = ["model.layers=784-3000000-10"]
    peak = peak_bytes(
        lambda: pytest.raises(ConfigError, load_config, "mnist-784-50-100-10", overrides)
    )
    assert peak < 50 * 10**6  # nothing like the 9.4 GB of one weight matrix
    with pytest.raises(ConfigError) as info:
        load_config("mnist-784-50-100-10", overrides)
    message = str(info.value)
    assert message.startswith(
        "--set model.layers=784-3000000-10: model.layers: the network needs about "
    )
    assert "2,385,000,010 parameters" in message
    assert "but this machine has 16.0 GB available" in message
    assert "\n" not in message


def test_a_huge_file_is_refused_at_its_line(machine, write_config):
    machine(64)
    path = write_config("name: g\nmodel:\n  layers: 64-100000000-10\n")
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    assert str(info.value).startswith(
        f"{path}:3: model.layers: the network needs more than 52.0 GB"
    )
    assert "but this machine has 64.0 GB available" in str(info.value)


def test_the_float64_hint_only_for_float64(machine, write_config):
    machine(1)
    path = write_config("name: g\nmodel: {layers: 64-10000000-10}\ntrain: {dtype: float64}\n")
    with pytest.raises(ConfigError, match=r"or train\.dtype: float32$"):
        load_config(str(path))


def test_a_network_past_the_build_limit_is_refused_without_building_it(machine):
    """10**17 units: the zero-byte build alone would loop for years."""
    machine(None)
    with pytest.raises(ConfigError, match=r"needs more than 52,000,000,000\.0 GB to train"):
        load_config("digits-64-50-100-10", ["model.layers=64-100000000000000000-10"])


def test_what_fits_is_accepted_and_unknown_memory_refuses_nothing(machine):
    machine(0.05)
    assert load_config("digits-64-50-100-10").config.model.layers == (64, 50, 100, 10)
    with pytest.raises(ConfigError, match="needs about"):
        load_config("simple-convnet-mnist")
    machine(None)
    load_config("mnist-784-50-100-10", ["model.layers=784-3000000-10"])


def test_building_the_model_checks_too_even_without_load_config(machine):
    """Model.from_config (train, gradcheck, graph, eval) goes through compile_model."""
    machine(16)
    huge = load_config("mnist-784-50-100-10", ["model.layers=784-3000000-10"], check_memory=False)
    dataset = DATASETS.get("mnist")
    rng = np.random.default_rng(0)
    with pytest.raises(ConfigError, match=r"^model\.layers: the network needs about"):
        Model.from_config(huge.config, dataset, rng)
    # With the config's source, the same line as load_config's refusal: one shape.
    with pytest.raises(ConfigError) as built:
        Model.from_config(huge.config, dataset, rng, huge.source)
    with pytest.raises(ConfigError) as loaded:
        load_config("mnist-784-50-100-10", ["model.layers=784-3000000-10"])
    assert str(built.value) == str(loaded.value)
    assert str(built.value).startswith("--set model.layers=784-3000000-10: model.layers: ")


def test_summary_describes_a_huge_network_without_allocating_it(machine, cli):
    machine(16)
    huge = load_config("mnist-784-50-100-10", ["model.layers=784-3000000-10"], check_memory=False)
    summaries = []
    assert peak_bytes(lambda: summaries.append(summarize(huge))) < 10**6
    assert sum(row.parameters for row in summaries[0].layers) == 2_385_000_010
    result = cli("summary", "mnist-784-50-100-10", "--set", "model.layers=784-3000000-10")
    assert result.exit_code == 0 and "2,385,000,010" in result.stdout


def test_train_refuses_in_one_line_exit_2(cli):
    """On any machine: 64-1000000000-10 needs over 300 GB."""
    result = cli("train", "digits-64-50-100-10", "--set", "model.layers=64-1000000000-10")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "the network needs more than" in result.stderr


def test_every_layer_kind_built_in_shapes_only_has_its_real_shapes_and_no_bytes():
    entries = [
        {"conv": {"filters": 4, "kernel": 3, "padding": 1}}, "batchnorm", "relu",
        {"maxpool": 2}, {"avgpool": 1}, {"dropout": 0.5}, "tanh", "sigmoid", "identity",
        "flatten", {"dense": 7}, "batchnorm", "step", {"dense": 3},
    ]  # fmt: skip
    names = {e if isinstance(e, str) else next(iter(e)) for e in entries}
    assert names == set(LAYERS.names()), "a new layer kind: add it here"

    def build(dtype):
        return compile_layers(entries, (1, 8, 8), lambda i: ("model", "layers", i), dtype)

    real, free = build(np.float32), build(footprint.SHAPES_ONLY)
    assert real.shapes == free.shapes
    for ours, theirs in zip(real.layers, free.layers, strict=True):
        for part in ("params", "buffers", "grads"):
            a, b = getattr(ours, part), getattr(theirs, part)
            assert {k: v.shape for k, v in a.items()} == {k: v.shape for k, v in b.items()}
            assert all(v.nbytes == 0 for v in b.values())
    # What each kind declares before building (held_values) is what it really holds.
    inputs = [(1, 8, 8), *real.shapes[:-1]]
    for index, (entry, layer, shape) in enumerate(zip(entries, real.layers, inputs, strict=True)):
        name, raw = split_entry(entry, (index,))
        settings = parse_settings(name, raw, (index,))
        held = sum(
            v.size for part in (layer.params, layer.grads, layer.buffers) for v in part.values()
        )
        assert LAYERS.get(name).held_values(settings, shape) == held, name


@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_every_optimizer_declares_the_copies_it_keeps(name):
    """state_copies (what the footprint counts) against the memory an optimizer still
    holds after two steps on a 200x200 parameter: state and scratch, not temporaries."""
    param = np.zeros((200, 200))
    grads = {"0.W": np.ones_like(param)}
    kept = []

    def make_and_step():
        optimizer = OPTIMIZERS.get(name)({"0.W": param})
        optimizer.step(grads)
        optimizer.step(grads)
        kept.append(optimizer)

    tracemalloc.start()
    try:
        make_and_step()
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    declared = OPTIMIZERS.get(name).state_copies
    assert footprint.optimizer_copies(name) == declared
    assert declared * param.nbytes <= held < (declared + 0.5) * param.nbytes, held / param.nbytes


def test_available_memory_comes_from_meminfo(monkeypatch, tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal: 4000 kB\nMemFree: 10 kB\nMemAvailable:    2000 kB\n")
    monkeypatch.setattr(footprint, "MEMINFO", meminfo)
    assert footprint.available_bytes() == 2000 * 1024
    monkeypatch.setattr(footprint, "MEMINFO", tmp_path / "missing")
    fallback = footprint.available_bytes()
    assert fallback is None or fallback > 0


def test_compile_model_shapes_only_matches_the_real_build():
    config = load_config("simple-convnet-mnist").config
    dataset = DATASETS.get("mnist")
    free = compile_model(config, dataset, shapes_only=True)
    real = compile_model(config, dataset)
    assert free.shapes == real.shapes and free.inits == real.inits


@pytest.mark.parametrize("command", ["gradcheck", "graph", "check"])
def test_every_command_that_builds_from_a_config_refuses_in_one_line(cli, command):
    result = cli(command, "digits-64-50-100-10", "--set", "model.layers=64-1000000000-10")
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: --set model.layers=64-1000000000-10: model.layers: ")


def test_a_trained_run_still_evaluates_and_graphs_when_memory_is_short(machine, cli, train_run):
    """Reading a trained run's config never checks memory: eval, graph and gradcheck of
    an existing run work on a busy machine; training it further (--resume) is refused."""
    run = train_run("xor-2-4-1", "--epochs", "2")
    machine(1e-6)  # 1 KB: every network is refused
    with pytest.raises(ConfigError, match="needs about"):
        load_config("xor-2-4-1")
    for args in (["eval", str(run)], ["graph", str(run)], ["gradcheck", str(run)]):
        result = cli(*args)
        assert result.exit_code == 0, (args, result.output)
    result = cli("train", "--resume", str(run))
    assert result.exit_code == 2 and "needs about" in result.stderr


def test_a_weight_file_claiming_a_huge_layer_is_refused_before_building_it(cli, train_run):
    """The architecture in weights.npz is checked against the arrays the file holds
    before a layer is allocated: a crafted 10^6 x 10^6 dense layer is one line, exit 1
    (was a MemoryError traceback), whatever the machine's memory."""
    import json

    from dlzero_cli.errors import RunError
    from dlzero_cli.runs.folder import RunFolder
    from dlzero_cli.runs.formats import ARCHITECTURE_KEY

    run = train_run("xor-2-4-1", "--epochs", "1")
    path = run / "weights.npz"
    with np.load(path) as stored:
        arrays = dict(stored)
    architecture = json.loads(str(arrays[ARCHITECTURE_KEY]))
    architecture["layers"][0].update({"in": 10**6, "out": 10**6})
    arrays[ARCHITECTURE_KEY] = np.array(json.dumps(architecture))
    np.savez(path, **arrays)
    errors = []

    def read():
        with pytest.raises(RunError) as info:
            RunFolder(run).read_model()
        errors.append(str(info.value))

    assert peak_bytes(read) < 10**6
    assert "describes 0.W of shape (1000000, 1000000)" in errors[0]
    result = cli("eval", str(run))
    assert result.exit_code == 1, result.output
    assert result.stderr.count("\n") == 1 and "(2, 4)" in result.stderr


def test_check_shows_the_estimate_that_train_refuses_with(machine):
    """`dlzero check`'s memory table is the footprint's parts: its peak is the number
    train compares with the memory available, so check cannot contradict a refusal."""
    from dlzero_cli.runs.planning import dry_run

    loaded = load_config("simple-convnet-mnist", ["train.optimizer.name=adam"])
    needs = model_footprint(loaded.config, DATASETS.get("mnist"))
    result = dry_run(loaded)
    assert [(part.name, part.bytes) for part in result.memory] == needs.parts()
    assert result.peak_bytes == needs.total
    assert result.measured_step_bytes > 0  # the tracemalloc peak stays its own line
    machine((needs.total + 1) / GB)
    load_config("simple-convnet-mnist", ["train.optimizer.name=adam"])
    machine((needs.total - 1) / GB)
    with pytest.raises(ConfigError, match=f"needs about {footprint.gigabytes(needs.total)} "):
        load_config("simple-convnet-mnist", ["train.optimizer.name=adam"])


def test_the_parts_add_up_to_the_total_whichever_phase_is_larger():
    """Training's parts, or initialising's when drawing the weights is the peak."""
    for batch, largest in ((100, 10), (1, 10**8)):
        needs = footprint.Footprint(10**6, 10, 500, 300, largest, batch, 4, "adam")
        parts = dict(needs.parts())
        assert sum(parts.values()) == needs.total
        assert ("drawing the first weights, beyond training" in parts) == (largest == 10**8)
