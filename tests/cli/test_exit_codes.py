"""One exit-code rule for every command (README, "Exit codes"):

    2    a bad command line or config: unknown option or command, bad value, a run,
         config, sweep or dataset that the command line names and that does not exist
    1    a failure while working: unreadable or corrupt files, data, I/O, divergence
    130  an interrupt (Ctrl-C)

The walk below enumerates the app's registered commands, so a new command without
cases here fails `test_every_command_is_walked`. Messages are asserted by their form
(one `error:` line, no traceback), not their wording: each module owns its wording.
"""

from __future__ import annotations

import enum
import shutil
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from dlzero_cli.cli import app

ROOT = typer.main.get_command(app)


def _commands(command, path=()):
    subcommands = getattr(command, "commands", None)
    if not subcommands:
        yield " ".join(path), command
        return
    for name, sub in subcommands.items():
        yield from _commands(sub, (*path, name))


COMMANDS = dict(_commands(ROOT))

# What fills a command's required arguments when the case is about something else.
# RUN is the trained run's name (under --runs-dir), CONFIG a shipped config.
FILL = {
    "run": ["RUN"],
    "runs": ["RUN", "RUN"],
    "inputs": ["0,0"],
    "dataset": ["mnist"],
    "weights": ["book.pkl"],
    "config": ["xor-2-4-1"],
    "target": ["xor-2-4-1"],
    "sweep": ["ch6-lr-decay"],
}
# Arguments that name a run, config or sweep: naming one that does not exist is exit 2.
NAMES_SOMETHING = {"run", "runs", "config", "target", "sweep"}

# Command-specific cases beyond the generated ones: (arguments, exit code).
SPECIFIC: dict[str, list[tuple[list[str], int]]] = {
    "check": [(["--set", "train.epochs=banana"], 2)],
    "compare": [(["RUN"], 2)],
    "configs": [(["extra"], 2)],
    "datasets": [(["extra"], 2)],
    "download": [(["mnst"], 2), (["digits"], 2), (["mnist", "--split", "tset"], 2)],
    "eval": [
        (["RUN", "--dataset", "mnistt"], 2),
        (["RUN", "--split", "testt"], 2),
        (["RUN", "--limit", "0"], 2),
        (["BROKEN"], 1),
    ],
    "gradcheck": [(["--set", "train.epochs=banana"], 2)],
    "graph": [(["--format", "pngg"], 2)],
    "import book": [(["book.pkl", "--config", "no-such-config"], 2)],
    "inspect": [(["BROKEN"], 1)],
    "predict": [(["RUN", "0,0", "--invert", "maybe"], 2), (["BROKEN", "0,0"], 1)],
    "runs list": [(["--sort", "bogus"], 2), (["--status", "bogus"], 2)],
    "runs show": [(["RUN", "--epochs", "many"], 2)],
    "runs verify": [(["BROKEN"], 1)],
    "summary": [(["latest", "--runs-dir", "EMPTY"], 2), (["--set", "model.layers=2-x-1"], 2)],
    "sweep": [(["--trials", "0"], 2)],
    "train": [(["--resume", "no-such-run"], 2), (["--set", "train.epochs=banana"], 2)],
}


def _takes_runs_dir(command) -> bool:
    return any("--runs-dir" in getattr(p, "opts", ()) for p in command.params)


def _required_args(command, replace: dict[str, list[str]] | None = None) -> list[str]:
    """The command's required arguments and options, FILLed, in order; `replace` gives
    other values for some of them (by parameter name)."""
    args = []
    for param in command.params:
        if replace and param.name in replace:
            args += replace[param.name]
        elif getattr(param, "param_type_name", "") == "argument" and param.required:
            args += FILL[param.name]
        elif getattr(param, "required", False):  # a required option (import book -c)
            args += [max(param.opts, key=len), *FILL[param.name]]
    return args


def _typed_option(command):
    """An option whose value is parsed (a number or a choice), or None."""
    for param in command.params:
        annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
        is_choice = isinstance(annotation, type) and issubclass(annotation, enum.Enum)
        if param.param_type_name == "option" and (annotation in (int, float) or is_choice):
            return param
    return None


def _cases():
    for name, command in sorted(COMMANDS.items()):
        words = name.split()
        yield name, [*words, *_required_args(command), "--no-such-option"], 2
        option = _typed_option(command)
        if option is not None:
            args = [*words, *_required_args(command), max(option.opts, key=len), "not-a-value"]
            yield name, args, 2
        for param in command.params:
            if param.name in NAMES_SOMETHING and param.param_type_name == "argument":
                missing = ["no-such-thing"] * (2 if param.name == "runs" else 1)
                yield name, [*words, *_required_args(command, {param.name: missing})], 2
        for args, code in SPECIFIC.get(name, []):
            yield name, [*words, *args, *_required_args_for_specific(command, args)], code


def _required_args_for_specific(command, args: list[str]) -> list[str]:
    # A specific case gives the arguments it is about; fill a required --config it omits.
    return (
        ["--config", "xor-2-4-1"]
        if any(getattr(p, "opts", None) == ["--config", "-c"] for p in command.params)
        and "--config" not in args
        else []
    )


CASES = list(_cases())


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """A runs folder with a trained xor run (RUN) and a copy with broken weights
    (BROKEN); an empty runs folder (EMPTY)."""
    root = tmp_path_factory.mktemp("exit-codes")
    runs_dir = root / "runs"
    result = CliRunner().invoke(
        app, ["train", "xor-2-4-1", "--epochs", "3", "--quiet", "--runs-dir", str(runs_dir)]
    )
    assert result.exit_code == 0, result.stderr
    [run] = list(runs_dir.iterdir())
    broken = runs_dir / f"{run.name}-broken"
    shutil.copytree(run, broken)
    (broken / "weights.npz").write_bytes(b"not a weight file")
    (broken / "manifest.json").write_text("{ not json")
    (broken / "diagnostics.csv").write_text("epoch,layer\nnot,a,row\n")
    (root / "book.pkl").write_bytes(b"not a pickle")
    (root / "empty").mkdir()
    return {"RUN": run, "BROKEN": broken, "EMPTY": root / "empty", "root": root}


def _invoke(args: list[str], runs: dict[str, Path]):
    argv = [str(runs[a].name) if a in ("RUN", "BROKEN") else a for a in args]
    argv = [str(runs["EMPTY"]) if a == "EMPTY" else a for a in argv]
    argv = [str(runs["root"] / a) if a == "book.pkl" else a for a in argv]
    command = COMMANDS.get(" ".join(args[:2])) or COMMANDS.get(args[0])
    if command is not None and _takes_runs_dir(command) and "--runs-dir" not in argv:
        argv += ["--runs-dir", str(runs["RUN"].parent)]
    return CliRunner().invoke(app, argv, env={"COLUMNS": "200"})


def test_every_command_is_walked():
    walked = {name for name, _, _ in CASES}
    assert walked == set(COMMANDS)
    assert {"eval", "train", "predict", "runs list", "import book"} <= walked
    # every command has at least the unknown-option case and one more
    for name in COMMANDS:
        assert sum(1 for n, _, _ in CASES if n == name) >= 2, name


@pytest.mark.parametrize(
    ("name", "args", "code"), CASES, ids=[" ".join(args) for _, args, _ in CASES]
)
def test_exit_code_rule(runs, name, args, code):
    result = _invoke(args, runs)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{args}: {result.exception!r}"
    )
    assert "Traceback" not in result.stderr
    assert result.exit_code == code, (args, result.stderr)
    lines = result.stderr.splitlines()
    assert lines, "a failure says why"
    assert all(line.startswith(("error: ", "warning: ")) for line in lines), lines
    assert any(line.startswith("error: ") for line in lines)
    assert "╭" not in result.stderr and "│" not in result.stderr  # no boxed panels


@pytest.mark.parametrize(
    "args",
    [
        ["eval", "RUN", "--lmit", "3"],
        ["eval", "RUN", "--split", "testt"],
        ["predict", "RUN", "0,0", "--invert", "yse"],
        ["evl", "RUN"],
    ],
)
def test_a_bad_command_line_is_one_line_with_did_you_mean(runs, args):
    result = _invoke(args, runs)
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("error: dlzero") and "did you mean" in line


def test_did_you_mean_names_the_closest_choice(runs):
    result = _invoke(["eval", "RUN", "--split", "testt"], runs)
    assert "did you mean 'test'?" in result.stderr and "--split" in result.stderr
    result = _invoke(["eval", "RUN", "--lmit", "3"], runs)
    assert "did you mean '--limit'?" in result.stderr


def test_choices_are_case_insensitive(runs):
    result = _invoke(["eval", "RUN", "--split", "TEST", "--json"], runs)
    assert result.exit_code == 0, result.stderr
    for name, command in COMMANDS.items():
        for param in command.params:
            descriptor = getattr(param, "type_descriptor", None)
            if descriptor is not None and descriptor.is_choice:
                assert not descriptor.case_sensitive, f"{name} {param.opts}"


def test_an_interrupt_is_130(runs, monkeypatch):
    import dlzero_cli.runs.reports as reports

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(reports, "evaluate_run", interrupted)
    result = _invoke(["eval", "RUN"], runs)
    assert result.exit_code == 130


def test_bare_group_prints_its_help_not_an_error(runs):
    result = CliRunner().invoke(app, [])
    assert result.exit_code in (0, 2)
    assert "Usage" in result.stdout + result.stderr
    assert "error:" not in result.stderr
