"""The audit log is append-only in the database, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from shequ.core.audit import audit
from shequ.core.models import AuditEntry

pytestmark = pytest.mark.django_db


def test_audit_records_actor_target_and_detail(system_user):
    entry = audit("thing.done", actor=system_user, target=system_user, why="test")
    entry.refresh_from_db()
    assert (entry.actor_id, entry.actor_name, entry.action) == (system_user.pk, "root", "thing.done")
    assert (entry.target_type, entry.target_id, entry.detail) == (
        "accounts.user",
        str(system_user.pk),
        {"why": "test"},
    )


def test_audit_entries_cannot_be_changed(system_user):
    entry = audit("thing.done", actor=system_user)
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).update(action="covered.up")
    entry.refresh_from_db()
    assert entry.action == "thing.done"


def test_recent_audit_entries_cannot_be_deleted(system_user):
    entry = audit("thing.done", actor=system_user)
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).delete()
    assert AuditEntry.objects.filter(pk=entry.pk).exists()


def test_entries_past_retention_can_be_pruned(system_user):
    entry = audit("thing.done", actor=system_user)
    old = timezone.now() - dt.timedelta(days=400)
    # auto_now_add would stamp the present: back-date with a plain INSERT, as an old row would be.
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO core_auditentry (at, actor_name, action, target_type, target_id, detail, request_id)"
            " VALUES (%s, 'root', 'old.thing', '', '', %s, '')",
            [old, "{}"],
        )
    assert AuditEntry.objects.get(action="old.thing").at < timezone.now() - dt.timedelta(days=180)
    assert AuditEntry.objects.filter(action="old.thing").delete()[0] == 1
    assert AuditEntry.objects.filter(pk=entry.pk).exists()
