"""The live terminal view: a rich table on a TTY, plain periodic lines without one (CI).

:func:`status_line` and :func:`status_table` render one :class:`Sample` plus
the retrain status; :class:`LiveView` decides how (and how often) to show them.
"""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from streamapp.demo.result import Sample


def _num(value: float | None, fmt: str = "{:.0f}") -> str:
    return "-" if value is None else fmt.format(value)


def _top_drift(sample: Sample, k: int = 3) -> str:
    top = sorted(sample.drift.items(), key=lambda kv: -kv[1])[:k]
    return " ".join(f"{f}={v:.2f}" for f, v in top) or "-"


def _versions(values: dict[str, float]) -> str:
    return " ".join(f"v{v}={a:.3f}" for v, a in sorted(values.items())) or "-"


def status_line(sample: Sample, retrain: str) -> str:
    """One plain line per tick (no TTY).

    >>> s = Sample(12.0, 2400, 199.5, 8.0, 30.0, 12.0, 0.0, 3, 0.9, {"1": 0.99}, {}, {"age": 0.01})
    >>> status_line(s, "idle").split(" acc ")
    ['t=12s sent=2400 pred/s=200 p50=8ms p99=30ms batch=12 lag=0 dlq=3 cov=0.90', \
'v1=0.990 mon - drift age=0.01 retrain: idle']
    """
    return (
        f"t={sample.t:.0f}s sent={sample.events_sent} pred/s={_num(sample.throughput)} "
        f"p50={_num(sample.p50_ms)}ms p99={_num(sample.p99_ms)}ms batch={_num(sample.batch_size)} "
        f"lag={_num(sample.lag)} dlq={sample.dead_letters:.0f} "
        f"cov={_num(sample.label_coverage, '{:.2f}')} "
        f"acc {_versions(sample.accuracy)} mon {_versions(sample.monitor_accuracy)} "
        f"drift {_top_drift(sample)} retrain: {retrain}"
    )


def status_table(sample: Sample, retrain: str, events: list[str]) -> Table:
    """The rich table shown on a TTY."""
    table = Table(title=f"streamapp demo — t={sample.t:.0f}s", show_header=False, expand=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("events sent", str(sample.events_sent))
    table.add_row("throughput", f"{_num(sample.throughput)} predictions/s")
    table.add_row("latency p50 / p99", f"{_num(sample.p50_ms)} / {_num(sample.p99_ms)} ms")
    table.add_row("batch size (mean)", _num(sample.batch_size, "{:.1f}"))
    table.add_row("consumer lag", _num(sample.lag))
    table.add_row("dead letters", f"{sample.dead_letters:.0f}")
    table.add_row("label coverage", _num(sample.label_coverage, "{:.2f}"))
    table.add_row("accuracy (observed)", _versions(sample.accuracy))
    table.add_row("accuracy (monitor)", _versions(sample.monitor_accuracy))
    table.add_row("top drifting features (PSI)", _top_drift(sample))
    table.add_row("retraining", retrain)
    for line in events[-5:]:
        table.add_row("", line)
    return table


class LiveView:
    """Shows ticks: a live rich table (TTY) or a plain line every ``every_s`` seconds."""

    def __init__(self, console: Console, every_s: float = 5.0) -> None:
        self.console = console
        self.tty = console.is_terminal
        self.every_s = every_s
        self._last = 0.0
        self._live: Live | None = None
        self.startup = self._bars()
        """Start-up bar (steps, model preparation); shown until the traffic starts."""
        self.progress = self._bars()
        """Training bar, rendered inside the live table."""
        self._train_task: TaskID | None = None
        self._startup_task: TaskID | None = None

    def _bars(self) -> Progress:
        return Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=self.console,
            disable=not self.tty,
        )

    def startup_begin(self, steps: int) -> None:
        """Show the start-up bar (TTY only) with ``steps`` steps."""
        self.startup.start()
        self._startup_task = self.startup.add_task("starting", total=steps)

    def startup_step(self, text: str) -> None:
        """One start-up step done: advance the bar and print the step's line."""
        if self._startup_task is not None:
            self.startup.advance(self._startup_task)
        self.note(text)

    def startup_end(self) -> None:
        """Remove the start-up bar (before the live table takes the screen)."""
        self.startup.stop()
        self._startup_task = None

    def __enter__(self) -> LiveView:
        if self.tty:
            self._live = Live(console=self.console, refresh_per_second=4, transient=False)
            self._live.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.__exit__(exc_type, exc, tb)
            self._live = None

    def training(self, epoch: int, epochs: int) -> None:
        """Advance the training progress bar (retrainer ``progress`` events)."""
        if self._train_task is None:
            self._train_task = self.progress.add_task("training new version", total=epochs)
        self.progress.update(self._train_task, completed=epoch, total=epochs)

    def show(self, sample: Sample, retrain: str, events: list[str]) -> None:
        """Render one tick; without a TTY only every ``every_s`` seconds."""
        if self._live is not None:
            parts: list[Table | Progress] = [status_table(sample, retrain, events)]
            if self._train_task is not None:
                parts.append(self.progress)
            self._live.update(Group(*parts))
            return
        now = time.monotonic()
        if now - self._last >= self.every_s:
            self._last = now
            self.console.print(status_line(sample, retrain), highlight=False, soft_wrap=True)

    def note(self, text: str) -> None:
        """A one-off line (start-up steps, retrain events) in both modes."""
        self.console.print(text, highlight=False, soft_wrap=True)
