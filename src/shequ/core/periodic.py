"""Periodic work (ARCHITECTURE §4): tasks enqueued every so often by `shequ serve`.

An app registers a django.tasks task in its `tasks.py`:

    @periodic.every(dt.timedelta(minutes=5))
    @task(queue_name="default")
    def sweep_deadlines_task() -> dict: ...

and `Scheduler` (started by `shequ serve`) enqueues each registered task once when it starts, then
every interval, from a daemon thread. The task runs wherever the task backend runs tasks (the db
worker, Celery workers, or inline with the immediate backend). A periodic task must be idempotent:
with several `shequ serve` hosts each one enqueues it, and a run may repeat after a crash.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from django.db import connections
from django.tasks import Task
from django.utils.module_loading import autodiscover_modules

log = logging.getLogger(__name__)
MIN_INTERVAL = dt.timedelta(seconds=10)


@dataclasses.dataclass(frozen=True)
class Schedule:
    name: str
    task: Task[Any, Any]
    every: dt.timedelta


_schedules: dict[str, Schedule] = {}


def every[T: Task[Any, Any]](interval: dt.timedelta) -> Callable[[T], T]:
    """Register a task (taking no arguments) to be enqueued every `interval`."""
    if interval < MIN_INTERVAL:
        raise ValueError(f"interval {interval} is below {MIN_INTERVAL}")

    def register(task: T) -> T:
        _schedules[task.module_path] = Schedule(task.module_path, task, interval)
        return task

    return register


def schedules() -> list[Schedule]:
    """Every registered schedule, after importing each app's `tasks` module (where they live)."""
    autodiscover_modules("tasks")
    return sorted(_schedules.values(), key=lambda s: s.name)


class Scheduler:
    """Enqueues each registered task at start and then every interval, until stopped.

    `run_pending(now)` does one round and is what tests call; `start()` runs rounds in a daemon
    thread. A failed enqueue (broker down) is logged and tried again at the next interval.
    """

    def __init__(self, entries: list[Schedule] | None = None, *, clock: Callable[[], float] = time.monotonic):
        self.entries = schedules() if entries is None else entries
        self.clock = clock
        self._next: dict[str, float] = {}
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="periodic-scheduler", daemon=True)

    def run_pending(self, now: float | None = None) -> list[str]:
        """Enqueue the tasks that are due; returns their names."""
        now = self.clock() if now is None else now
        enqueued = []
        for entry in self.entries:
            if self._next.get(entry.name, now) > now:
                continue
            self._next[entry.name] = now + entry.every.total_seconds()
            try:
                entry.task.enqueue()
            except Exception:
                log.exception("could not enqueue periodic task %s", entry.name)
                continue
            enqueued.append(entry.name)
        return enqueued

    def seconds_to_next(self, now: float) -> float:
        if not self.entries:
            return 3600.0
        return max(0.0, min(self._next.get(e.name, now) for e in self.entries) - now)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self.run_pending()
            finally:
                connections.close_all()  # this thread's own connections: none held while it sleeps
            self._stopping.wait(max(1.0, self.seconds_to_next(self.clock())))
