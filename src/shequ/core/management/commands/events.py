"""`shequ events replay|pending`: deliver domain events left unhandled, or count them."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Count, Min, Q
from django.utils import timezone

from shequ.core import outbox
from shequ.core.models import Event


class Command(BaseCommand):
    help = "领域事件发件箱: replay 投递未处理的事件, pending 统计未处理的事件"

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="{replay,pending}")
        replay = actions.add_parser("replay", help="按顺序投递所有未处理的事件")
        replay.add_argument("--limit", type=int, default=None, help="最多投递这么多条")
        actions.add_parser("pending", help="按类型统计未处理的事件")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "replay":
            self.replay(options.get("limit"))
        else:
            self.pending()

    def replay(self, limit: int | None) -> None:
        if limit is not None and limit < 1:
            raise CommandError("--limit 应为正整数")
        delivered, failed = outbox.replay(limit=limit)
        left = Event.objects.filter(handled_at__isnull=True).count()
        self.stdout.write(f"已投递 {delivered}, 失败 {failed}, 仍未处理 {left}")
        if failed:
            raise CommandError(f"{failed} 条事件投递失败, 原因见日志和事件的 last_error", returncode=1)

    def pending(self) -> None:
        rows = (
            Event.objects.filter(handled_at__isnull=True)
            .values("type")
            .annotate(
                n=Count("seq"), oldest=Min("occurred_at"), failing=Count("seq", filter=Q(attempts__gt=0))
            )
            .order_by("type")
        )
        total = 0
        for row in rows:
            total += row["n"]
            line = f"{row['type']}: {row['n']} 条, 最早 {timezone.localtime(row['oldest']):%Y-%m-%d %H:%M:%S}"
            if row["failing"]:
                line += f", 其中 {row['failing']} 条投递失败过"
            self.stdout.write(line)
        self.stdout.write(f"未处理的事件共 {total} 条")
