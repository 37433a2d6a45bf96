"""core.periodic: what `shequ serve` enqueues, and when."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from shequ.core import periodic


class FakeTask:
    """Stands for a django.tasks Task: counts enqueues; fails while `down` (a broker away)."""

    def __init__(self) -> None:
        self.enqueued = 0
        self.down = False
        self.called = threading.Event()

    def enqueue(self) -> None:
        self.called.set()
        if self.down:
            raise ConnectionError("broker unreachable")
        self.enqueued += 1


def test_each_task_runs_at_start_then_every_interval():
    fast, slow = FakeTask(), FakeTask()
    scheduler = periodic.Scheduler(
        [
            periodic.Schedule("fast", fast, dt.timedelta(minutes=5)),
            periodic.Schedule("slow", slow, dt.timedelta(hours=1)),
        ]
    )
    assert scheduler.run_pending(0) == ["fast", "slow"]
    assert scheduler.run_pending(299) == []
    assert scheduler.seconds_to_next(299) == 1
    assert scheduler.run_pending(300) == ["fast"]
    assert scheduler.run_pending(3600) == ["fast", "slow"]
    assert (fast.enqueued, slow.enqueued) == (3, 2)


def test_a_failed_enqueue_is_logged_and_tried_at_the_next_interval(caplog):
    task = FakeTask()
    scheduler = periodic.Scheduler([periodic.Schedule("t", task, dt.timedelta(minutes=5))])
    task.down = True
    assert scheduler.run_pending(0) == []
    assert "could not enqueue periodic task t" in caplog.text
    task.down = False
    assert scheduler.run_pending(10) == []
    assert scheduler.run_pending(300) == ["t"]


def test_the_thread_enqueues_at_start_and_stops():
    task = FakeTask()
    scheduler = periodic.Scheduler([periodic.Schedule("t", task, dt.timedelta(minutes=5))])
    scheduler.start()
    try:
        assert task.called.wait(5)
    finally:
        scheduler.stop()
    assert task.enqueued == 1 and not scheduler._thread.is_alive()


def test_intervals_below_ten_seconds_are_refused():
    with pytest.raises(ValueError, match="below"):
        periodic.every(dt.timedelta(seconds=1))
