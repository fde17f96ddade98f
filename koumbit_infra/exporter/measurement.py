"""What every background measurement is, and the job that runs one on a schedule.

A measurement computes a new immutable snapshot in ``refresh()`` (in a
background thread) and swaps it in with one assignment; ``collect()`` builds
metric families from whichever snapshot is current. A scrape therefore never
waits for a refresh, and a site missing from the new snapshot has no series
left behind.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

log = logging.getLogger("koumbit_infra.exporter")

SITE_LABELS = ("server", "site", "client")


class PagedCollector(Collector, ABC):
    """A collector that can yield a large family in consecutive parts.

    ``collect()`` (what a registry calls) yields whole families. Given a
    ``limit``, a family of more samples is yielded as several consecutive
    families of the same name holding at most ``limit`` samples each, so the
    renderer never holds 50,000 Sample objects (about 600 bytes each with
    their label dict) at once: exposition.render joins the parts back into one
    family in the text.
    """

    @abstractmethod
    def collect(self, limit: int | None = None) -> Iterable[Metric]: ...


def paged(make: Callable[[], Metric], rows: Iterable[tuple[Sequence[str], Any]],
          limit: int | None) -> Iterator[Metric]:
    """The family ``make()`` filled with ``rows`` (label values, value), in parts of ``limit``.

    Without a limit, one family. An empty family is still yielded once: its
    HELP and TYPE lines are part of the exposition.
    """
    part: Any = make()
    whole = True
    for labels, value in rows:
        part.add_metric(labels, value)
        if limit is not None and len(part.samples) >= limit:
            yield part
            part, whole = make(), False
    if whole or part.samples:
        yield part


class Measurement(PagedCollector, ABC):
    """A collector whose values are refreshed in the background."""

    name: str

    @abstractmethod
    def refresh(self) -> list[str]:
        """Measure again and swap in the new snapshot; the problems met, one per item.

        An item that failed (one site's directory, one pool) is left out of the
        snapshot and named in the list; the other items are still published.
        Raising means the whole measurement failed and the old snapshot stays.
        """



@dataclass
class JobStatus:
    """What the self-metrics report about one measurement."""

    success: bool = False
    duration_seconds: float = 0.0
    last_success_timestamp: float | None = None
    errors: int = 0
    runs: int = 0


class Job:
    """Runs one measurement now and then every ``interval`` seconds in its own thread."""

    MAX_LOGGED_PROBLEMS = 5

    def __init__(
        self,
        measurement: Measurement,
        interval: float,
        *,
        nice: int = 0,
        on_refreshed: Callable[[Job], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.measurement = measurement
        self.interval = interval
        self.nice = nice
        self.status = JobStatus()
        self._on_refreshed = on_refreshed
        self._clock = clock
        self._thread: threading.Thread | None = None

    @property
    def name(self) -> str:
        return self.measurement.name

    def run_once(self) -> JobStatus:
        """Refresh the measurement and record how it went (never raises)."""
        started = time.monotonic()
        try:
            problems = self.measurement.refresh()
        except Exception as exc:  # one failing measurement must not stop the others
            log.warning("collector %s failed: %s", self.name, exc)
            problems = None
        duration = time.monotonic() - started
        # Build the new status whole, then swap it in: the scrape thread reads it.
        last = self.status.last_success_timestamp
        success = problems == []
        if success:
            last = self._clock()
        elif problems:
            for problem in problems[: self.MAX_LOGGED_PROBLEMS]:
                log.warning("collector %s: %s", self.name, problem)
            if len(problems) > self.MAX_LOGGED_PROBLEMS:
                log.warning("collector %s: %d more problems", self.name,
                            len(problems) - self.MAX_LOGGED_PROBLEMS)
        self.status = JobStatus(
            success=success,
            duration_seconds=duration,
            last_success_timestamp=last,
            errors=1 if problems is None else len(problems),
            runs=self.status.runs + 1,
        )
        if self._on_refreshed is not None:
            self._on_refreshed(self)
        return self.status

    def start(self, stop: threading.Event) -> None:
        self._thread = threading.Thread(
            target=self._loop, args=(stop,), name=f"refresh-{self.name}", daemon=True
        )
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self, stop: threading.Event) -> None:
        if self.nice:
            # On Linux a thread is a task: this lowers the CPU priority of this
            # measurement only, not of the thread that answers scrapes.
            try:
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self.nice)
            except OSError as exc:  # a sandbox refusing it must not stop the measurement
                log.warning("collector %s: cannot lower priority: %s", self.name, exc)
        while not stop.is_set():
            started = time.monotonic()
            self.run_once()
            stop.wait(max(0.0, self.interval - (time.monotonic() - started)))
