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
_types: dict[str, type[DomainEvent]] = {}
_handlers: dict[str, list[Callable[[DomainEvent, Event], None]]] = defaultdict(list)


def event_type(name: str) -> Callable[[E], E]:
    """Register an event class under a stable name (stored in the outbox; never rename one)."""

    def register(cls: E) -> E:
        if name in _types and _types[name] is not cls:
            raise ValueError(f"event type {name!r} registered twice")
        cls.type_name = name
        _types[name] = cls
        return cls

    return register


def handles(
    *classes: type[DomainEvent],
) -> Callable[[Callable[[Any, Event], None]], Callable[[Any, Event], None]]:
    """Register a handler, called after commit with the event and its outbox row."""

    def register(fn: Callable[[Any, Event], None]) -> Callable[[Any, Event], None]:
        for cls in classes:
            if fn not in _handlers[cls.type_name]:
                _handlers[cls.type_name].append(fn)
        return fn

    return register


def publish(event: DomainEvent) -> Event:
    """Write the event in the current transaction; deliver it after commit."""
    if not event.type_name or _types.get(event.type_name) is not type(event):
        raise TypeError(f"{type(event).__name__} is not a registered event type")
    row = Event.objects.create(type=event.type_name, payload=event.to_payload())
    transaction.on_commit(lambda: deliver(row.seq), robust=True)
    return row


def load(row: Event) -> DomainEvent:
    return _types[row.type](**row.payload)


def deliver(seq: int) -> bool:
    """Run the handlers of one event. Returns True when it is (now or already) handled."""
    with transaction.atomic():
        row = Event.objects.select_for_update().filter(seq=seq, handled_at__isnull=True).first()
        if row is None:
            return True
        row.attempts += 1
        try:
            event = load(row)
            for handler in _handlers.get(row.type, []):
                handler(event, row)
        except Exception as exc:  # a failing handler must not lose the event: keep it for replay
            log.exception("handler failed for event %s", row.seq)
            Event.objects.filter(seq=seq).update(attempts=row.attempts, last_error=repr(exc)[:2000])
            return False
        Event.objects.filter(seq=seq).update(attempts=row.attempts, last_error="", handled_at=timezone.now())
        return True


def replay(*, limit: int | None = None) -> tuple[int, int]:
    """Deliver every unhandled event in order. Returns (delivered, failed)."""
    ok = failed = 0
    pending = Event.objects.filter(handled_at__isnull=True).order_by("seq").values_list("seq", flat=True)
    for seq in pending[:limit] if limit else pending:
        if deliver(seq):
            ok += 1
        else:
            failed += 1
    return ok, failed
