"""Progress display: one bar per run (weight steps over all epochs) with the latest epoch's numbers, and a
bar for each long phase inside a run (loading the images, evaluating the supernet), so that no step of a
run, however long, looks like a hang."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

T = TypeVar("T")
Tick = Callable[[], None]


def _nothing() -> None: ...


def counted(items: Iterable[T], tick: Tick) -> Iterator[T]:
    """``items``, calling ``tick`` once each item has been consumed."""
    for item in items:
        yield item
        tick()


class NullProgress:
    """Used by tests, workers and ``--no-progress``."""

    def start_run(self, label: str, total_steps: int, completed: int = 0) -> None: ...

    def step(self) -> None: ...

    def epoch(self, text: str) -> None: ...

    def end_run(self, status: str) -> None: ...

    def message(self, text: str) -> None: ...

    @contextmanager
    def phase(self, text: str, total: int | None = None) -> Iterator[Tick]:
        """A long step inside a run; the caller calls the yielded ``tick`` once per unit of ``total``."""
        yield _nothing

    def __enter__(self) -> NullProgress:
        return self

    def __exit__(self, *exc: object) -> None: ...


class LineProgress(NullProgress):
    """``--no-progress``: no bars, but messages (a busy run and who holds it, a worker that died) still
    reach stderr, one plain line each."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)

    def message(self, text: str) -> None:
        self.console.print(text, highlight=False, soft_wrap=True)


class RichProgress(NullProgress):
    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"),
            console=self.console,
        )
        self.task = None

    def __enter__(self) -> RichProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def start_run(self, label: str, total_steps: int, completed: int = 0) -> None:
        self.task = self.progress.add_task(label, total=total_steps, completed=completed, info="")

    def step(self) -> None:
        self.progress.advance(self.task)

    def epoch(self, text: str) -> None:
        self.progress.update(self.task, info=text)

    def end_run(self, status: str) -> None:
        task = next(t for t in self.progress.tasks if t.id == self.task)
        self.progress.update(self.task, info=f"{status}  {task.fields.get('info', '')}")

    def message(self, text: str) -> None:
        self.progress.console.print(text)

    @contextmanager
    def phase(self, text: str, total: int | None = None) -> Iterator[Tick]:
        """A bar of its own under the run's (a pulsing one when ``total`` is None), removed when the phase ends."""
        task = self.progress.add_task(f"  {text}", total=total, info="")
        try:
            yield lambda: self.progress.advance(task)
        finally:
            self.progress.remove_task(task)
