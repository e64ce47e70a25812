"""The one exception family every layer of dlzero raises for problems a user can fix.

The CLI turns a DlzeroError into a single line on stderr and its exit code; anything
else is a bug and keeps its traceback. This module imports nothing so that every other
module, the engine included, may use it.
"""


class DlzeroError(Exception):
    """A problem with the user's input, files or environment; `str()` is the one line."""

    exit_code = 1


class ConfigError(DlzeroError):
    """A config file or a --set override is invalid."""

    exit_code = 2


class UsageError(DlzeroError):
    """A command-line argument is invalid (wrong combination, bad value)."""

    exit_code = 2


class DataError(DlzeroError):
    """A dataset is missing, unreadable or does not match what the model expects."""


class RunError(DlzeroError):
    """A run folder is missing, incomplete or unreadable."""


class InputError(DlzeroError):
    """An input handed to `predict` cannot be read or has the wrong shape."""


class EngineError(DlzeroError):
    """The engine was asked for something it cannot do (e.g. backward through a step)."""


class TrainingDiverged(DlzeroError):
    """The loss became NaN or infinite, or exploded, at `epoch`'s `step`.

    `fit` raises it with what happened (`reason`); whoever ran `fit` may add a `hint`
    (what to change, where the last good weights are) with `with_hint`.
    """

    def __init__(self, epoch: int, step: int, loss: float, reason: str, hint: str = "") -> None:
        self.epoch, self.step, self.loss, self.reason, self.hint = epoch, step, loss, reason, hint
        message = f"training diverged: {self.detail}"
        super().__init__(f"{message}; {hint}" if hint else message)

    @property
    def detail(self) -> str:
        """What happened and where, without the hint: "loss became nan (epoch 2, step 7)"."""
        return f"{self.reason} (epoch {self.epoch}, step {self.step})"

    def with_hint(self, hint: str) -> "TrainingDiverged":
        return TrainingDiverged(self.epoch, self.step, self.loss, self.reason, hint)


class RunNotFound(RunError):
    """The run a command line names does not exist (no such folder, no runs for `latest`).

    A bad command line, so exit 2; a run that exists but cannot be used is a RunError (1).
    """

    exit_code = 2


class DlzeroWarning(UserWarning):
    """Something dlzero worked around and the user should know (a cache it could not
    write, a stale cache it rebuilt): `warnings.warn(DlzeroWarning(line))`. The CLI shows
    each distinct one as one `warning: ...` line on stderr and carries on."""


class TypedInputError(InputError):
    """A value typed on `predict`'s command line (a literal row) is malformed: exit 2."""

    exit_code = 2


class WriteError(DlzeroError, OSError):
    """A file could not be written (no space, read-only, permission denied): one line
    naming the file and the cause. Also an OSError, so `except OSError` still holds."""

    def __init__(self, path: object, cause: OSError) -> None:
        reason = cause.strerror or str(cause) or type(cause).__name__
        self.path, self.cause = path, cause
        DlzeroError.__init__(self, f"{path}: cannot write: {reason}")
        self.errno, self.strerror, self.filename = cause.errno, reason, str(path)

    def __str__(self) -> str:
        return str(self.args[0])

    def __reduce__(self):  # picklable (a sweep's worker sends its errors back)
        return (type(self), (self.path, OSError(self.errno, self.strerror)))


class RunLocked(RunError):
    """Another process is training the run folder (its lock names the process)."""


# An exception's message in an error line is cut to this many characters.
MAX_REASON_CHARS = 160


def describe_exception(
    exc: BaseException, default: str | None = None, limit: int | None = MAX_REASON_CHARS
) -> str:
    """Another library's exception (Pillow, pickle, a socket, click) as one short line
    for an error message: whitespace and line breaks collapsed, object reprs such as
    `<_io.BytesIO object at 0x7f...>` dropped, cut to `limit` characters (None: whole).
    An empty message gives `default`, else the exception's class name; EOFError says
    the data ended."""
    if isinstance(exc, EOFError):
        return "the file ends too soon"
    text = " ".join(_without_object_reprs(str(exc)).split()) or default or type(exc).__name__
    return text if limit is None or len(text) <= limit else text[: limit - 3] + "..."


def _without_object_reprs(text: str) -> str:
    """`text` without `<... at 0x...>` (no `re`: this module imports nothing)."""
    out, rest = [], text
    while True:
        start = rest.find("<")
        end = rest.find(">", start + 1) if start >= 0 else -1
        if start < 0 or end < 0:
            return "".join(out) + rest
        inside = rest[start + 1 : end]
        address = inside.rpartition(" at 0x")[2]
        is_repr = (
            " at 0x" in inside
            and "<" not in inside
            and address != ""
            and all(c in "0123456789abcdefABCDEF" for c in address)
        )
        out.append(rest[:start] if is_repr else rest[: start + 1])
        rest = rest[end + 1 :] if is_repr else rest[start + 1 :]
