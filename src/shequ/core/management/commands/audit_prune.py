"""`shequ audit_prune [--days N]`: delete audit entries past the retention period.

The period is the longer of --days and SHEQU_AUDIT_RETENTION_DAYS (itself at least 180 days); the
database refuses to delete anything younger than 180 days whatever this command is told.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from shequ.core.audit import audit
from shequ.core.models import AuditEntry

BATCH = 5000


class Command(BaseCommand):
    help = "删除超过保存期限的审计日志 (期限取 --days 与 SHEQU_AUDIT_RETENTION_DAYS 中较长者)"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=0, help="保存天数; 短于系统设置时按系统设置")
        parser.add_argument("--dry-run", action="store_true", help="只统计, 不删除")

    def handle(self, *args: Any, days: int, dry_run: bool, **options: Any) -> None:
        if days < 0:
            raise CommandError("--days 不能为负数")
        keep = max(days, settings.AUDIT_RETENTION_DAYS)
        cutoff = timezone.now() - dt.timedelta(days=keep)
        old = AuditEntry.objects.filter(at__lt=cutoff)
        if dry_run:
            self.stdout.write(f"保存 {keep} 天: 将删除 {old.count()} 条 {cutoff:%Y-%m-%d} 之前的审计日志")
            return
        deleted = 0
        # In batches, each its own transaction: a long log is pruned without one huge lock.
        while True:
            with transaction.atomic():
                pks = list(old.order_by("pk").values_list("pk", flat=True)[:BATCH])
                if not pks:
                    break
                deleted += AuditEntry.objects.filter(pk__in=pks).delete()[0]
        with transaction.atomic():
            audit("audit.prune", actor=None, keep_days=keep, cutoff=cutoff.isoformat(), deleted=deleted)
        self.stdout.write(f"保存 {keep} 天: 已删除 {deleted} 条 {cutoff:%Y-%m-%d} 之前的审计日志")
