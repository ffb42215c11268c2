"""The `mlwright run` display: one line per stage with its elapsed time (Rich), or plain lines."""

from __future__ import annotations

import re
import time
from types import TracebackType

from rich.console import Console
from rich.status import Status

_RUNNING = re.compile(r"Running stage '(?:[^':]*:)?([^']+)'")
_SKIP = re.compile(r"Stage '(?:[^':]*:)?([^']+)' didn't change, skipping")


class StageProgress:
    def __init__(self, quiet: bool = False):
        self.quiet = quiet
        self.console = Console(stderr=False, highlight=False)
        if not self.console.is_terminal:
            # piped or logged: no wrapping at 80 columns, which split paths and commands
            self.console = Console(stderr=False, highlight=False, width=100_000, soft_wrap=True)
        self.current: str | None = None
        self.started = 0.0
        self.status: Status | None = None

    def __enter__(self) -> StageProgress:
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self._close(ok=et is None)

    def _close(self, ok: bool) -> None:
        if self.current is None:
            return
        took = time.perf_counter() - self.started
        mark = "[green]done[/green]" if ok else "[red]failed[/red]"
        self._print(
            f"  {self.current:10s} {mark} {took:6.1f}s", f"{self.current}: {'done' if ok else 'failed'} in {took:.1f}s"
        )
        if self.status is not None:
            self.status.stop()
            self.status = None
        self.current = None

    def _print(self, rich: str, plain: str) -> None:
        if self.quiet:
            print(plain, flush=True)
        else:
            self.console.print(rich)

    def line(self, text: str) -> None:
        if m := _RUNNING.search(text):
            self._close(ok=True)
            self.current, self.started = m.group(1), time.perf_counter()
            if not self.quiet and self.console.is_terminal:
                self.status = self.console.status(f"running {self.current} ...")
                self.status.start()
            elif self.quiet:
                print(f"{self.current}: running", flush=True)
            return
        if m := _SKIP.search(text):
            self._close(ok=True)
            self._print(f"  {m.group(1):10s} [dim]unchanged, skipped[/dim]", f"{m.group(1)}: unchanged, skipped")
            return
        stripped = text.strip()
        if self.current and stripped.startswith(f"{self.current}:") and "done in" not in stripped:
            self._print(f"    [dim]{stripped}[/dim]", f"  {stripped}")
