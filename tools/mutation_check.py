"""Plant small bugs one at a time in a copy of the repository and run the tests that
should catch each one: a mutation check of the test suite.

    python tools/mutation_check.py                 # every mutant in tools/mutants.toml
    python tools/mutation_check.py --list          # what they are
    python tools/mutation_check.py --only ID ...   # some of them
    python tools/mutation_check.py --jobs 2 --timeout 300 --min-score 0.9

Each mutant (tools/mutants.toml) names a file, an exact snippet of it (or alternative
snippets, for code that is being rewritten: the first found is used), its replacement
and the tests to run (pytest arguments: paths, node ids, -k expressions). The checkout
is never modified: the tool copies the working tree once per job into a temporary
folder (without .git, virtual environments, runs and downloaded data), and for each
mutant writes the mutated file there, runs

    sys.executable -m pytest -x -q -p no:cacheprovider TESTS

with the copy as the working directory and first on PYTHONPATH, then writes the file's
original bytes back. A development venv has an *editable* install pointing at the
checkout, so the tool checks before anything else that the copy's package is the one
imported, by `python -c` and by a canary mutant that pytest must trip over.

A mutant is
  killed    the tests failed (pytest exit 1, or 2 when a module failed to import), or
            ran past the time limit (shown as "timeout");
  survived  the tests passed with the bug in place;
  error     the snippet was not found or is not unique, the mutated file does not
            compile, the tests selected nothing or failed *without* the mutant (the
            baseline run of each test selection), or pytest could not start.
            Never counted as killed; any error makes the exit status non-zero.
`pending` mutants target code being written as the mutant list was made: their
snippet is a guess, they are reported in their own table and left out of the score.
`to_confirm` marks a test selection that guesses at tests being written: paths that do
not exist yet are dropped (and said so), and a mutant left with no test survives.

Score = killed / (killed + survived) over the mutants that are not pending; the exit
status is 1 when it is below --min-score or any mutant is an error, 0 otherwise, 2 for a
bad command line or mutant file. A JSON report is written (--report).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

HERE = Path(__file__).resolve().parent
DEFAULT_REPO = HERE.parent
DEFAULT_MUTANTS = HERE / "mutants.toml"
SHARED_DATA_ENV = "DLZERO_SHARED_DATA"
PYTEST_ARGS = ["-x", "-q", "-p", "no:cacheprovider"]
# What the copy leaves out: history, caches (anywhere), and at the top level the
# environments, generated files and downloaded data (only data/README.md is kept).
IGNORED_ANYWHERE = {
    ".git", "__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis", ".mypy_cache",
}  # fmt: skip
IGNORED_AT_TOP = {"runs", "build", "dist", "venv"}
CANARY = "mutation-check canary: the copy's package was imported"


class MutantFileError(Exception):
    """The mutant list cannot be read or is malformed."""


@dataclass(frozen=True)
class Mutant:
    id: str
    file: str
    original: tuple[str, ...]  # alternatives: the first found is the one replaced
    replacement: tuple[str, ...]  # the same number, paired with them
    description: str
    tests: tuple[str, ...]
    pending: bool = False
    to_confirm: bool = False


@dataclass
class Outcome:
    id: str
    status: str  # killed | survived | error
    detail: str = ""
    seconds: float = 0.0
    pending: bool = False
    to_confirm: bool = False
    tests: list[str] = field(default_factory=list)
    timeout: bool = False


# --------------------------------------------------------------------------- mutants


def load_mutants(path: Path) -> list[Mutant]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise MutantFileError(f"{path}: cannot read the mutant list: {exc}") from None
    mutants, seen = [], set()
    required = ("id", "file", "original", "replacement", "description", "tests")
    for index, entry in enumerate(data.get("mutant", []), start=1):
        missing = [k for k in required if k not in entry]
        unknown = set(entry) - set(required) - {"pending", "to_confirm"}
        where = f"{path}: mutant {index} ({entry.get('id', '?')})"
        if missing:
            raise MutantFileError(f"{where}: missing {', '.join(missing)}")
        if unknown:
            raise MutantFileError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
        if entry["id"] in seen:
            raise MutantFileError(f"{where}: duplicate id")
        original, replacement = (
            tuple([v] if isinstance(v, str) else v)
            for v in (entry["original"], entry["replacement"])
        )
        if len(original) != len(replacement) or not original:
            raise MutantFileError(f"{where}: give as many replacements as originals")
        if any(a == b for a, b in zip(original, replacement, strict=True)):
            raise MutantFileError(f"{where}: a replacement equals its original")
        tests = entry["tests"]
        if isinstance(tests, str):
            tests = [tests]
        if not tests:
            raise MutantFileError(f"{where}: no tests to run")
        seen.add(entry["id"])
        mutants.append(
            Mutant(
                entry["id"],
                entry["file"],
                original,
                replacement,
                entry["description"],
                tuple(tests),
                bool(entry.get("pending", False)),
                bool(entry.get("to_confirm", False)),
            )  # fmt: skip
        )
    if not mutants:
        raise MutantFileError(f"{path}: no [[mutant]] entries")
    return mutants


def mutate(text: str, mutant: Mutant) -> str:
    """`text` with the mutant's snippet replaced: the first of its alternative snippets
    found, which must occur exactly once; ValueError when none is found."""
    for original, replacement in zip(mutant.original, mutant.replacement, strict=True):
        count = text.count(original)
        if count > 1:
            raise ValueError(f"snippet occurs {count} times in {mutant.file}; make it unique")
        if count == 1:
            return text.replace(original, replacement)
    alternatives = len(mutant.original)
    which = f" (none of its {alternatives} alternatives)" if alternatives > 1 else ""
    raise ValueError(f"snippet not found in {mutant.file}{which}")


# --------------------------------------------------------------------------- the copy


def _ignored(relative: Path) -> bool:
    """Whether the copy leaves out this path (relative to the repository)."""
    parts = relative.parts
    if any(p in IGNORED_ANYWHERE or p.endswith(".egg-info") for p in parts):
        return True
    top = parts[0] if parts else ""
    if top in IGNORED_AT_TOP or top.startswith(".venv"):
        return True
    return top == "data" and len(parts) > 1 and parts[1:] != ("README.md",)


def copy_tree(repo: Path, into: Path) -> Path:
    target = into / repo.name

    def ignore(folder: str, names: list[str]) -> set[str]:
        where = Path(folder).relative_to(repo)
        return {n for n in names if _ignored(where / n)}

    shutil.copytree(repo, target, ignore=ignore, symlinks=True)
    return target


def tree_digest(root: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file the copy holds (see `_ignored`), so that
    what running tests creates in ignored places does not count."""
    digests = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if _ignored(relative) or not path.is_file():
            continue
        digests[relative.as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


def clean_generated(root: Path) -> None:
    """Remove what a pytest run may leave in the copy (Hypothesis's example database
    would carry one mutant's failing example into the next run)."""
    for name in (".hypothesis", ".pytest_cache", "runs"):
        shutil.rmtree(root / name, ignore_errors=True)


class Workspace:
    """One copy of the repository in which mutants are applied one at a time."""

    def __init__(
        self,
        repo: Path,
        package: str,
        env: dict[str, str],
        timeout: float,
        max_memory: int | None = None,
    ) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="mutation-check-"))
        self.root = copy_tree(repo, self.tmp)
        self.package = package
        self.timeout = timeout
        self.max_memory = max_memory  # bytes of address space per pytest run, or None
        self.env = dict(env)
        # The copy first on the path: it must win over an editable install of the checkout.
        self.env["PYTHONPATH"] = os.pathsep.join(
            [str(self.root)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        )
        # No bytecode: a mutant of the same size written within the same second as the
        # previous one would otherwise be shadowed by a stale .pyc.
        self.env["PYTHONDONTWRITEBYTECODE"] = "1"

    def remove(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    def apply(self, mutant: Mutant) -> bytes:
        """Write the mutated file; return its original bytes for `revert`."""
        path = self.root / mutant.file
        original = path.read_bytes()
        mutated = mutate(original.decode("utf-8"), mutant)
        if path.suffix == ".py":
            try:
                compile(mutated, str(path), "exec")
            except SyntaxError as exc:
                raise ValueError(f"the mutated {mutant.file} does not compile: {exc}") from None
        path.write_bytes(mutated.encode("utf-8"))
        return original

    def revert(self, mutant: Mutant, original: bytes) -> None:
        path = self.root / mutant.file
        path.write_bytes(original)
        if path.read_bytes() != original:  # pragma: no cover - a disk that lies
            raise RuntimeError(f"{path}: could not restore the original bytes")

    def pytest(self, args: list[str]) -> tuple[int | None, str, float]:
        """(exit code or None on timeout, output tail, seconds)."""
        command = [sys.executable, "-m", "pytest", *PYTEST_ARGS, *args]
        if self.max_memory:
            # A mutant can make a test allocate without bound (a billion-laughs YAML): cap
            # the address space in the child, then exec pytest (no preexec_fn: threads).
            limit = (
                "import os, resource, sys; "
                f"resource.setrlimit(resource.RLIMIT_AS, ({self.max_memory}, {self.max_memory})); "
                "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
            )
            command = [sys.executable, "-c", limit, *command[1:]]
        return self.run(command)

    def run(self, command: list[str]) -> tuple[int | None, str, float]:
        started = time.monotonic()
        # Its own session, so a timeout ends pytest and whatever it started (only those).
        process = subprocess.Popen(
            command, cwd=self.root, env=self.env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        try:
            output, _ = process.communicate(timeout=self.timeout)
            code: int | None = process.returncode
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
            code = None
        finally:
            clean_generated(self.root)
        text = output.decode("utf-8", "replace")
        return code, text, time.monotonic() - started

    def check_imports_copy(self, canary_tests: list[str]) -> None:
        """Raise RuntimeError unless both python and pytest, run as mutants are, import the
        package from this copy."""
        probe = f"import {self.package}, sys; sys.stdout.write({self.package}.__file__)"
        code, out, _ = self.run([sys.executable, "-c", probe])
        where = Path(out.strip().splitlines()[-1]).resolve() if out.strip() else None
        if code != 0 or where is None or self.root.resolve() not in where.parents:
            raise RuntimeError(
                f"python in the copy imported {self.package} from {where or out.strip()!r}, "
                f"not from {self.root}; the mutants would not be tested"
            )
        init = Mutant("canary", f"{self.package}/__init__.py", ("",), ("-",), "", ())
        path = self.root / init.file
        original = path.read_bytes()
        path.write_bytes(original + f"\nraise RuntimeError({CANARY!r})\n".encode())
        try:
            code, out, _ = self.pytest(list(canary_tests))
        finally:
            self.revert(init, original)
        if code in (0, None) or CANARY not in out:
            raise RuntimeError(
                f"pytest in the copy did not import {self.package} from it (a canary raising "
                f"on import went unnoticed, exit {code}); the mutants would not be tested"
            )


# --------------------------------------------------------------------------- running


def select_tests(root: Path, mutant: Mutant) -> tuple[list[str], list[str]]:
    """(pytest arguments, notes): to_confirm selections drop paths not written yet."""
    args, notes = [], []
    for arg in mutant.tests:
        path = arg.split("::", 1)[0]
        is_path = not arg.startswith("-") and ("/" in path or path.endswith(".py"))
        if is_path and not (root / path).exists():
            if mutant.to_confirm:
                notes.append(f"{path} does not exist yet")
                continue
        args.append(arg)
    # Only options left (-k EXPR): pytest runs them over the configured testpaths.
    return args, notes


class Runner:
    def __init__(self, workspaces: list[Workspace], baseline: bool) -> None:
        self.free: queue.Queue[Workspace] = queue.Queue()
        for ws in workspaces:
            self.free.put(ws)
        self.baseline = baseline
        self.baselines: dict[tuple[str, ...], tuple[int | None, str]] = {}
        self.lock = threading.Lock()
        self.pending_baseline: dict[tuple[str, ...], threading.Event] = {}

    def _baseline(self, ws: Workspace, args: list[str]) -> tuple[int | None, str]:
        key = tuple(args)
        with self.lock:
            event = self.pending_baseline.get(key)
            owner = event is None
            if owner:
                event = self.pending_baseline[key] = threading.Event()
        if owner:
            code, out, _ = ws.pytest(args)
            self.baselines[key] = (code, out)
            event.set()
        else:
            event.wait()
        return self.baselines[key]

    def run(self, mutant: Mutant) -> Outcome:
        ws = self.free.get()
        try:
            return self._run(ws, mutant)
        finally:
            self.free.put(ws)

    def _run(self, ws: Workspace, mutant: Mutant) -> Outcome:
        outcome = Outcome(mutant.id, "error", pending=mutant.pending, to_confirm=mutant.to_confirm)
        args, notes = select_tests(ws.root, mutant)
        outcome.tests = args
        note = "; ".join(notes)
        if not args:
            try:  # the snippet must still be there, or the mutant is an error
                mutate((ws.root / mutant.file).read_text(encoding="utf-8"), mutant)
            except (OSError, ValueError) as exc:
                outcome.detail = str(exc)
                return outcome
            outcome.status, outcome.detail = "survived", f"no test yet ({note})"
            return outcome
        try:
            original = ws.apply(mutant)
        except (OSError, ValueError) as exc:
            outcome.detail = str(exc)
            return outcome
        try:
            code, out, seconds = ws.pytest(args)
        finally:
            ws.revert(mutant, original)
        outcome.seconds = round(seconds, 1)
        tail = _tail(out)
        if code is None:
            outcome.status, outcome.timeout = "killed", True
            outcome.detail = f"timeout after {ws.timeout:g} s"
        elif code in (1, 2):
            outcome.status, outcome.detail = "killed", _first_failure(out) or tail
        elif code == 0:
            outcome.status, outcome.detail = "survived", tail
        elif code == 5 and mutant.to_confirm:
            outcome.status, outcome.detail = "survived", f"no test selected yet: {tail}"
        else:
            outcome.detail = f"pytest exit {code}: {tail}"
        if outcome.status == "killed" and self.baseline:
            base_code, base_out = self._baseline(ws, args)
            if base_code != 0:
                outcome.status = "error"
                outcome.detail = (
                    f"the tests fail without the mutant too (exit {base_code}): "
                    f"{_first_failure(base_out) or _tail(base_out)}"
                )
        if note:
            outcome.detail = f"{outcome.detail} [{note}]"
        return outcome


def _tail(output: str) -> str:
    lines = [line for line in output.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def _first_failure(output: str) -> str:
    for line in output.splitlines():
        if line.startswith(("FAILED ", "ERROR ")):
            return line
    return ""


# --------------------------------------------------------------------------- reporting


def score(outcomes: list[Outcome]) -> tuple[int, int, float | None]:
    counted = [o for o in outcomes if not o.pending]
    killed = sum(o.status == "killed" for o in counted)
    survived = sum(o.status == "survived" for o in counted)
    return killed, survived, (killed / (killed + survived) if killed + survived else None)


def print_table(title: str, outcomes: list[Outcome], mutants: dict[str, Mutant]) -> None:
    if not outcomes:
        return
    width = max(len(o.id) for o in outcomes)
    print(f"\n{title}")
    for o in outcomes:
        status = "TIMEOUT" if o.timeout else o.status.upper()
        flags = " (to confirm)" if o.to_confirm else ""
        print(f"  {status:<8} {o.id:<{width}} {o.seconds:6.1f}s  {mutants[o.id].file}{flags}")
        detail = o.detail if len(o.detail) <= 160 else o.detail[:157] + "..."
        print(f"  {'':<8} {'':<{width}}          {detail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Plant bugs one at a time in a copy of the repository and run the "
        "tests that should catch each one.",
    )
    parser.add_argument("--repo", type=Path, default=DEFAULT_REPO, help="the checkout")
    parser.add_argument("--mutants", type=Path, default=DEFAULT_MUTANTS)
    parser.add_argument("--package", default="dlzero_cli", help="the package to check imports")
    parser.add_argument("--only", nargs="+", metavar="ID", help="run only these mutants")
    parser.add_argument("--list", action="store_true", help="list the mutants and stop")
    parser.add_argument("--jobs", type=int, default=1, help="copies run side by side (1)")
    parser.add_argument("--timeout", type=float, default=240.0, help="seconds per pytest run")
    parser.add_argument("--min-score", type=float, default=0.9)
    parser.add_argument(
        "--max-memory",
        type=float,
        default=4.0,
        help="GiB of address space per pytest run (0: no limit); a mutant that allocates "
        "without bound then fails its tests instead of filling the machine",
    )
    parser.add_argument(
        "--no-baseline",
        action="store_true",
        help="do not rerun a killing test selection without its mutant",
    )
    parser.add_argument(
        "--canary-tests",
        nargs="+",
        default=["tests/test_imports.py"],
        help="tests the import canary runs (their import must reach the package)",
    )
    parser.add_argument(
        "--report",
        type=Path,
        default=None,
        help="JSON report (default: build/mutation-report.json in the repo)",
    )
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")

    repo = args.repo.resolve()
    try:
        mutants = load_mutants(args.mutants)
    except MutantFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    by_id = {m.id: m for m in mutants}
    if args.only:
        unknown = [i for i in args.only if i not in by_id]
        if unknown:
            print(f"error: --only: no mutant {', '.join(unknown)} (see --list)", file=sys.stderr)
            return 2
        mutants = [by_id[i] for i in args.only]
    if args.list:
        for m in mutants:
            flags = "".join([" [pending]" * m.pending, " [tests to confirm]" * m.to_confirm])
            print(f"{m.id}{flags}\n    {m.file}: {m.description}\n    tests: {' '.join(m.tests)}")
        print(f"{len(mutants)} mutants")
        return 0

    env = dict(os.environ)
    shared = repo.parent / "shared" / "data"  # where tests look next to the checkout
    if SHARED_DATA_ENV not in env and shared.is_dir():
        env[SHARED_DATA_ENV] = str(shared)
    started = time.monotonic()
    workspaces: list[Workspace] = []
    try:
        for _ in range(min(args.jobs, len(mutants))):
            limit = int(args.max_memory * 2**30) or None
            workspaces.append(Workspace(repo, args.package, env, args.timeout, limit))
        for ws in workspaces:
            ws.check_imports_copy(args.canary_tests)
        before = tree_digest(workspaces[0].root)
        print(
            f"{len(mutants)} mutants, {len(workspaces)} job(s), copies in "
            f"{', '.join(str(ws.root) for ws in workspaces)}; imports checked",
            flush=True,
        )
        runner = Runner(workspaces, baseline=not args.no_baseline)
        outcomes: list[Outcome] = []

        def one(mutant: Mutant) -> Outcome:
            outcome = runner.run(mutant)
            shown = "TIMEOUT" if outcome.timeout else outcome.status.upper()
            print(f"  {shown:<8} {mutant.id} ({outcome.seconds:.1f} s)", flush=True)
            return outcome

        with ThreadPoolExecutor(max_workers=len(workspaces)) as pool:
            outcomes = list(pool.map(one, mutants))
        for ws in workspaces:
            if tree_digest(ws.root) != before:
                raise RuntimeError(f"{ws.root}: the copy differs from before the mutants")
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        for ws in workspaces:
            ws.remove()
    elapsed = time.monotonic() - started

    current = [o for o in outcomes if not o.pending]
    pending = [o for o in outcomes if o.pending]
    print_table("Mutants", current, by_id)
    print_table("Pending mutants (their code is being written; not scored)", pending, by_id)
    killed, survived, value = score(outcomes)
    errors = [o for o in current if o.status == "error"]
    shown = "n/a" if value is None else f"{value:.0%}"
    print(
        f"\nscore {shown}: {killed} killed, {survived} survived, {len(errors)} errors "
        f"(of {len(current)}; {len(pending)} pending not scored) in {elapsed:.0f} s"
    )
    for o in errors:
        print(f"error: {o.id}: {o.detail}", file=sys.stderr)

    report = args.report or repo / "build" / "mutation-report.json"
    report.parent.mkdir(parents=True, exist_ok=True)
    pending_killed, pending_survived, pending_score = score(
        [Outcome(o.id, o.status) for o in pending]
    )
    report.write_text(json.dumps({
        "score": value, "killed": killed, "survived": survived, "errors": len(errors),
        "pending": {"killed": pending_killed, "survived": pending_survived,
                    "score": pending_score, "count": len(pending)},
        "min_score": args.min_score, "seconds": round(elapsed, 1), "timeout": args.timeout,
        "python": sys.executable,
        "mutants": [asdict(o) | {"file": by_id[o.id].file,
                                 "description": by_id[o.id].description} for o in outcomes],
    }, indent=2) + "\n", encoding="utf-8")  # fmt: skip
    print(f"report: {report}")
    if errors or value is None or value < args.min_score:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
