"""The domain-event outbox: written with the change, delivered after commit, replayable."""

from __future__ import annotations

import dataclasses

import pytest
from django.db import transaction

from shequ.core import outbox
from shequ.core.models import Event

delivered: list[tuple[int, str]] = []


@outbox.event_type("test.thing_happened")
@dataclasses.dataclass(frozen=True, kw_only=True)
class ThingHappened(outbox.DomainEvent):
    name: str
    fail: bool = False


@outbox.handles(ThingHappened)
def remember(event: ThingHappened, row: Event) -> None:
    if event.fail:
        raise RuntimeError("handler broke")
    delivered.append((row.seq, event.name))


batches: list[list[str]] = []


@outbox.handles_batch(ThingHappened)
def remember_batch(events: list[ThingHappened], rows: list[Event]) -> None:
    batches.append([e.name for e in events])


@pytest.fixture(autouse=True)
def clear() -> None:
    delivered.clear()
    batches.clear()


@pytest.mark.django_db
def test_event_is_delivered_only_after_commit(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        row = outbox.publish(ThingHappened(name="a"))
        assert delivered == []  # not before commit
    assert len(callbacks) == 1
    assert delivered == [(row.seq, "a")]
    row.refresh_from_db()
    assert row.handled_at is not None and row.attempts == 1


@pytest.mark.django_db
def test_rolled_back_writer_leaves_no_event(django_capture_on_commit_callbacks):
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(ZeroDivisionError),
        transaction.atomic(),
    ):
        outbox.publish(ThingHappened(name="lost"))
        _ = 1 / 0
    assert not Event.objects.filter(type="test.thing_happened").exists()
    assert delivered == []


@pytest.mark.django_db
def test_undelivered_events_are_replayed_in_order_once():
    # Written but never delivered: as if the process died between commit and handling.
    rows = [outbox.publish(ThingHappened(name=n)) for n in "xyz"]
    assert delivered == []
    assert outbox.replay() == (3, 0)
    assert delivered == [(r.seq, r.payload["name"]) for r in rows]
    assert outbox.replay() == (0, 0)  # handled rows are not delivered again
    assert len(delivered) == 3


@pytest.mark.django_db
def test_failing_handler_keeps_the_event_for_replay():
    row = outbox.publish(ThingHappened(name="bad", fail=True))
    assert outbox.replay() == (0, 1)
    row.refresh_from_db()
    assert row.handled_at is None and row.attempts == 1 and "handler broke" in row.last_error


@pytest.mark.django_db
def test_events_of_one_transaction_are_delivered_in_one_batch(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        rows = [outbox.publish(ThingHappened(name=n)) for n in "abc"]
    assert len(callbacks) == 1  # one hook for the transaction, not one per event
    assert delivered == [(r.seq, r.payload["name"]) for r in rows]
    assert batches == [["a", "b", "c"]]
    with django_capture_on_commit_callbacks(execute=True):
        outbox.publish(ThingHappened(name="d"))  # a later transaction gets its own batch
    assert batches == [["a", "b", "c"], ["d"]]
    assert not Event.objects.filter(type="test.thing_happened", handled_at__isnull=True).exists()


@pytest.mark.django_db
def test_a_rolled_back_savepoint_drops_only_its_events(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        try:
            with transaction.atomic():
                outbox.publish(ThingHappened(name="lost"))
                _ = 1 / 0
        except ZeroDivisionError:
            pass
        outbox.publish(ThingHappened(name="kept"))
    assert [name for _, name in delivered] == ["kept"]
    assert batches == [["kept"]]


@pytest.mark.django_db
def test_one_failing_event_in_a_batch_does_not_hold_back_the_others(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        good = outbox.publish(ThingHappened(name="good"))
        bad = outbox.publish(ThingHappened(name="bad", fail=True))
    good.refresh_from_db()
    bad.refresh_from_db()
    assert good.handled_at is not None and bad.handled_at is None
    assert "handler broke" in bad.last_error
    assert outbox.replay() == (0, 1)


def test_unregistered_event_is_refused():
    @dataclasses.dataclass(frozen=True, kw_only=True)
    class Stray(outbox.DomainEvent):
        pass

    with pytest.raises(TypeError):
        outbox.publish(Stray())


def test_event_names_are_unique():
    with pytest.raises(ValueError):

        @outbox.event_type("test.thing_happened")
        @dataclasses.dataclass(frozen=True, kw_only=True)
        class Other(outbox.DomainEvent):
            pass
