"""How downloads look: a rich bar (bytes, speed, ETA) on a terminal, lines otherwise."""

from __future__ import annotations

from pathlib import Path

from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from dlzero_cli.cli.common import stdout
from dlzero_cli.data.download import DownloadEvents
from dlzero_cli.data.store import FileSpec


def _installed_line(spec: FileSpec, path: Path, official: bool) -> str:
    kind = "official archive" if official else "recompressed copy, same data"
    return f"installed {path} (verified: {kind})"


class PlainDownloadEvents(DownloadEvents):
    def file_present(self, spec: FileSpec, path: Path) -> None:
        print(f"present   {path} (verified)", flush=True)

    def file_started(self, spec: FileSpec, source: str, total: int | None) -> None:
        size = f" ({total / 1e6:.1f} MB)" if total else ""
        print(f"fetching  {spec.name} from {source}{size}", flush=True)

    def attempt_failed(self, spec: FileSpec, source: str, reason: str, retrying: bool) -> None:
        then = "retrying" if retrying else "trying the next source"
        print(f"failed    {source}: {reason}; {then}", flush=True)

    def file_installed(self, spec: FileSpec, path: Path, official: bool) -> None:
        print(_installed_line(spec, path, official), flush=True)

    def close(self) -> None:
        pass


class RichDownloadEvents(DownloadEvents):
    def __init__(self) -> None:
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=stdout,
        )
        self.bar.start()
        self.task = None

    def file_present(self, spec: FileSpec, path: Path) -> None:
        self.bar.console.print(f"present   {path} (verified)")

    def file_started(self, spec: FileSpec, source: str, total: int | None) -> None:
        if self.task is not None:
            self.bar.remove_task(self.task)
        self.task = self.bar.add_task(spec.name, total=total)

    def advanced(self, nbytes: int) -> None:
        self.bar.advance(self.task, nbytes)

    def attempt_failed(self, spec: FileSpec, source: str, reason: str, retrying: bool) -> None:
        then = "retrying" if retrying else "trying the next source"
        self.bar.console.print(f"[yellow]failed[/]    {source}: {reason}; {then}")

    def file_installed(self, spec: FileSpec, path: Path, official: bool) -> None:
        self.bar.console.print(_installed_line(spec, path, official))

    def close(self) -> None:
        self.bar.stop()


def make_download_events() -> PlainDownloadEvents | RichDownloadEvents:
    return RichDownloadEvents() if stdout.is_terminal else PlainDownloadEvents()
