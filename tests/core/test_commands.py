"""Operator commands: `shequ events replay|pending`, `shequ audit_prune`, and the audit log's guard."""

from __future__ import annotations

import dataclasses
import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.test import override_settings
from django.utils import timezone

from shequ.core import outbox
from shequ.core.audit import audit
from shequ.core.models import AuditEntry, Event

pytestmark = pytest.mark.django_db
seen: list[str] = []


@outbox.event_type("test.commands.noted")
@dataclasses.dataclass(frozen=True, kw_only=True)
class Noted(outbox.DomainEvent):
    text: str
    fail: bool = False


@outbox.handles(Noted)
def note(event: Noted, row: Event) -> None:
    if event.fail:
        raise RuntimeError("handler broke")
    seen.append(event.text)


@pytest.fixture(autouse=True)
def clear() -> None:
    seen.clear()


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_events_pending_counts_by_type_and_replay_delivers_in_order():
    # No commit inside the test transaction, so these stay pending as after a crash.
    for text in ("a", "b", "c"):
        outbox.publish(Noted(text=text))
    assert "test.commands.noted: 3 条" in run("events", "pending")
    assert "已投递 2, 失败 0, 仍未处理 1" in run("events", "replay", "--limit", "2")
    assert seen == ["a", "b"]
    assert "已投递 1, 失败 0, 仍未处理 0" in run("events", "replay")
    assert seen == ["a", "b", "c"]
    assert "未处理的事件共 0 条" in run("events", "pending")


def test_events_replay_reports_failures_and_keeps_them():
    outbox.publish(Noted(text="ok"))
    broken = outbox.publish(Noted(text="bad", fail=True))
    with pytest.raises(CommandError, match="1 条事件投递失败"):
        run("events", "replay")
    broken.refresh_from_db()
    assert broken.handled_at is None and "handler broke" in broken.last_error
    assert "其中 1 条投递失败过" in run("events", "pending")
    with pytest.raises(CommandError):
        run("events", "replay", "--limit", "0")


def backdated(action: str, days: int) -> None:
    """An entry written `days` ago: auto_now_add stamps the present, so insert it as an old row was."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO core_auditentry (at, actor_name, action, target_type, target_id, detail, request_id)"
            " VALUES (%s, 'root', %s, '', '', %s, '')",
            [timezone.now() - dt.timedelta(days=days), action, "{}"],
        )


@override_settings(AUDIT_RETENTION_DAYS=250)
def test_audit_prune_keeps_the_longer_of_days_and_the_setting(system_user):
    backdated("old.400", 400)
    backdated("old.300", 300)
    backdated("old.200", 200)
    audit("fresh", actor=system_user)
    # --days longer than the setting: --days wins
    assert "保存 350 天: 将删除 1 条" in run("audit_prune", "--days", "350", "--dry-run")
    assert "已删除 1 条" in run("audit_prune", "--days", "350")
    left = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"old.300", "old.200", "fresh"} <= left and "old.400" not in left
    # --days shorter than the setting: the setting wins
    assert "保存 250 天: 已删除 1 条" in run("audit_prune", "--days", "30")
    left = set(AuditEntry.objects.values_list("action", flat=True))
    assert "old.300" not in left and {"old.200", "fresh"} <= left
    prunes = AuditEntry.objects.filter(action="audit.prune").order_by("pk")
    assert [(p.detail["keep_days"], p.detail["deleted"]) for p in prunes] == [(350, 1), (250, 1)]


@override_settings(AUDIT_RETENTION_DAYS=180)
def test_audit_prune_at_the_minimum_and_bad_days(system_user):
    backdated("old.181", 181)
    backdated("old.179", 179)
    assert "已删除 1 条" in run("audit_prune")
    assert set(AuditEntry.objects.values_list("action", flat=True)) >= {"old.179"}
    with pytest.raises(CommandError):
        run("audit_prune", "--days", "-1")


def test_the_database_refuses_to_delete_or_change_a_fresh_entry(system_user):
    entry = audit("thing.done", actor=system_user)
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).delete()
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).update(action="covered.up")
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM core_auditentry WHERE id = %s", [entry.pk])
    entry.refresh_from_db()
    assert entry.action == "thing.done"
