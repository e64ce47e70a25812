"""A bad command line as one `error:` line and exit 2, in the style of every other error.

Typer would draw a boxed panel of five lines for an unknown option or a bad value. The
app's group (`DlzeroGroup`, given to `typer.Typer(cls=...)`) runs the command line
without Typer's standalone handling and turns each of its parsing errors into one line
that names the command and the option, says what was wrong and, where a name was
mistyped, the closest valid one ("did you mean"). The exit codes (see the README's
"Exit codes"): 2 for a bad command line, 1 for a failure while working, 130 for Ctrl-C.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Sequence
from typing import Any

# Typer 0.29 carries its own copy of Click (typer._click) and raises that copy's
# exceptions; the public `click` (installed here only for Dask) has other classes, which
# would catch nothing. Hence the private import, and typer pinned in pyproject.toml to
# the versions tested (tests/cli/test_usage_module.py checks both).
from typer._click import exceptions as click_errors
from typer.core import TyperGroup
from typer.exceptions import Abort

from dlzero_cli.errors import describe_exception

USAGE_EXIT = 2
INTERRUPT_EXIT = 130

_CHOICE = re.compile(r"^(?:Value error, )?(?P<value>'.*'|\".*\") is not one of ")


class DlzeroGroup(TyperGroup):
    """The root command: parsing errors become one `error:` line (see the module doc)."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, False, **extra)
        except click_errors.NoArgsIsHelpError as exc:  # a bare `dlzero runs`: its help
            print(exc.format_message(), file=sys.stderr)
            sys.exit(USAGE_EXIT)
        except click_errors.UsageError as exc:
            print(f"error: {usage_message(exc)}", file=sys.stderr)
            sys.exit(USAGE_EXIT)
        except click_errors.ClickException as exc:
            print(f"error: {describe_exception(exc, limit=None)}", file=sys.stderr)
            sys.exit(exc.exit_code)
        except Abort:  # end of input at a prompt
            print("error: aborted", file=sys.stderr)
            sys.exit(1)
        # Without standalone mode Typer returns the code of a `typer.Exit`, or None.
        sys.exit(rv if isinstance(rv, int) else 0)


def _did_you_mean(name: str, choices: list[str]) -> str:
    # Imported here: the engine package imports NumPy, which `dlzero --help` never needs.
    from dlzero_cli.engine.registry import did_you_mean

    return did_you_mean(name, choices)


def usage_message(exc: click_errors.UsageError) -> str:
    """`dlzero eval: --split: 'testt' is not one of ...; did you mean 'test'? (--help)`."""
    ctx = exc.ctx
    where = ctx.command_path if ctx is not None else "dlzero"
    hint = f" (see `{where} --help`)"
    if isinstance(exc, click_errors.NoSuchOption):
        options = _option_names(ctx)
        message = f"no such option {exc.option_name}{_did_you_mean(exc.option_name, options)}"
    elif isinstance(exc, click_errors.MissingParameter):
        message = f"missing {_param_name(exc.param)}"
    elif isinstance(exc, click_errors.BadParameter):
        message = f"{_param_name(exc.param)}: {_bad_value(exc)}"
    else:
        message = describe_exception(exc, limit=None).rstrip(".")
        unknown = re.match(r"No such command '(.*?)'", message)
        if unknown and ctx is not None:
            names = list(getattr(ctx.command, "commands", {}))
            message = f"no such command {unknown[1]!r}{_did_you_mean(unknown[1], names)}"
        else:  # "Got unexpected extra argument(s) (x)" and the like
            message = message[:1].lower() + message[1:]
    return f"{where}: {message}{hint}"


def _option_names(ctx: Any) -> list[str]:
    if ctx is None:
        return []
    return [opt for param in ctx.command.params for opt in getattr(param, "opts", [])]


def _param_name(param: Any) -> str:
    if param is None:
        return "a value"
    if getattr(param, "param_type_name", "") == "argument":
        return str(param.name).upper()
    return max(param.opts, key=len)


def _bad_value(exc: click_errors.BadParameter) -> str:
    message = describe_exception(exc, limit=None).rstrip(".")
    message = message.removeprefix("Value error, ")
    choice = _CHOICE.match(describe_exception(exc, limit=None))
    descriptor = getattr(exc.param, "type_descriptor", None)
    if choice and descriptor is not None and descriptor.choices:
        value = ast.literal_eval(choice["value"])
        names = [str(getattr(c, "value", c)) for c in descriptor.choices]
        message += _did_you_mean(str(value).lower(), names)
    elif message.startswith("Input should be"):
        message = "should be" + message.removeprefix("Input should be")
    return message
