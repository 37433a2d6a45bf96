"""Domain events through an outbox (ARCHITECTURE §4).

A service calls `publish(SomethingHappened(...))` inside its transaction: the event row is written
with the change, and delivered to the registered handlers after commit. If the process dies in
between, the row stays unhandled and `shequ events replay` delivers it later. Handlers must be
idempotent (a replay may repeat one that ran but was not stamped).
"""

from __future__ import annotations

import dataclasses
import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from shequ.core.models import Event

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, kw_only=True)
class DomainEvent:
    """Base of every event: a small frozen dataclass of JSON-safe fields, registered by name."""

    type_name: ClassVar[str] = ""

    def to_payload(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


E = TypeVar("E", bound=type[DomainEvent])
Handler = Callable[[Any, Event], None]
BatchHandler = Callable[[list[Any], list[Event]], None]
_types: dict[str, type[DomainEvent]] = {}
_handlers: dict[str, list[Handler]] = defaultdict(list)
_batch_handlers: dict[str, list[BatchHandler]] = defaultdict(list)
BATCH = 500  # events delivered in one transaction


def event_type(name: str) -> Callable[[E], E]:
    """Register an event class under a stable name (stored in the outbox; never rename one)."""

    def register(cls: E) -> E:
        if name in _types and _types[name] is not cls:
            raise ValueError(f"event type {name!r} registered twice")
        cls.type_name = name
        _types[name] = cls
        return cls

    return register


def handles(*classes: type[DomainEvent]) -> Callable[[Handler], Handler]:
    """Register a handler, called after commit with each event and its outbox row."""

    def register(fn: Handler) -> Handler:
        for cls in classes:
            if fn not in _handlers[cls.type_name]:
                _handlers[cls.type_name].append(fn)
        return fn

    return register


def handles_batch(*classes: type[DomainEvent]) -> Callable[[BatchHandler], BatchHandler]:
    """Register a handler called once per delivered batch with all its events of these classes
    (in order) and their rows: for work that is cheaper done once for many events."""

    def register(fn: BatchHandler) -> BatchHandler:
        for cls in classes:
            if fn not in _batch_handlers[cls.type_name]:
                _batch_handlers[cls.type_name].append(fn)
        return fn

    return register


def publish(event: DomainEvent) -> Event:
    """Write the event in the current transaction; deliver it after commit, with the other events
    of the same transaction in one batch."""
    if not event.type_name or _types.get(event.type_name) is not type(event):
        raise TypeError(f"{type(event).__name__} is not a registered event type")
    row = Event.objects.create(type=event.type_name, payload=event.to_payload())
    conn = transaction.get_connection()
    if conn.in_atomic_block:
        _pending(conn).append(row.seq)
    else:  # autocommit: the row is committed already
        deliver_many([row.seq])
    return row


class _Batch:
    """The events of one transaction, delivered by one after-commit hook."""

    def __init__(self) -> None:
        self.seqs: list[int] = []
        self.done = False

    def __call__(self) -> None:
        self.done = True
        deliver_many(self.seqs)


def _pending(conn: Any) -> list[int]:
    """The seqs waiting for this transaction's commit. A batch whose hook already ran, or was
    dropped by a savepoint rollback, is replaced by a fresh one."""
    batch = getattr(conn, "_shequ_outbox", None)
    if batch is None or batch.done or not any(fn is batch for _, fn, _ in conn.run_on_commit):
        batch = conn._shequ_outbox = _Batch()
        transaction.on_commit(batch, robust=True)
    return batch.seqs


def load(row: Event) -> DomainEvent:
    return _types[row.type](**row.payload)


def _run(rows: list[Event]) -> None:
    """Call the handlers of these rows: per-event handlers in order, then each batch handler once."""
    batches: dict[BatchHandler, tuple[list[Any], list[Event]]] = {}
    for row in rows:
        event = load(row)
        for handler in _handlers.get(row.type, []):
            handler(event, row)
        for batch_handler in _batch_handlers.get(row.type, []):
            events, batch_rows = batches.setdefault(batch_handler, ([], []))
            events.append(event)
            batch_rows.append(row)
    for batch_handler, (events, batch_rows) in batches.items():
        batch_handler(events, batch_rows)


def deliver(seq: int) -> bool:
    """Run the handlers of one event. Returns True when it is (now or already) handled."""
    with transaction.atomic():
        row = Event.objects.select_for_update().filter(seq=seq, handled_at__isnull=True).first()
        if row is None:
            return True
        row.attempts += 1
        try:
            _run([row])
        except Exception as exc:  # a failing handler must not lose the event: keep it for replay
            log.exception("handler failed for event %s", row.seq)
            Event.objects.filter(seq=seq).update(attempts=row.attempts, last_error=repr(exc)[:2000])
            return False
        Event.objects.filter(seq=seq).update(attempts=row.attempts, last_error="", handled_at=timezone.now())
        return True


def deliver_many(seqs: list[int]) -> tuple[int, int]:
    """Deliver these events, BATCH at a time, each batch in one transaction. When a batch fails,
    its events go one by one, so that only the failing one is kept for replay. Returns
    (delivered, failed)."""
    ok = failed = 0
    for i in range(0, len(seqs), BATCH):
        chunk = seqs[i : i + BATCH]
        try:
            with transaction.atomic():
                waiting = Event.objects.select_for_update().filter(seq__in=chunk, handled_at__isnull=True)
                rows = list(waiting.order_by("seq"))
                _run(rows)
                Event.objects.filter(seq__in=[r.seq for r in rows]).update(
                    attempts=F("attempts") + 1, last_error="", handled_at=timezone.now()
                )
            ok += len(chunk)
        except Exception:
            for seq in chunk:
                if deliver(seq):
                    ok += 1
                else:
                    failed += 1
    return ok, failed


def replay(*, limit: int | None = None) -> tuple[int, int]:
    """Deliver every unhandled event in order. Returns (delivered, failed)."""
    pending = Event.objects.filter(handled_at__isnull=True).order_by("seq").values_list("seq", flat=True)
    return deliver_many(list(pending[:limit] if limit else pending))
