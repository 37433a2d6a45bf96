"""`shequ rollups [--rebuild [--since YYYY-MM-DD]]`: the measures' rollups, counted or rebuilt."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from shequ.analytics.rollups import fact_counts, rebuild_rollups


class Command(BaseCommand):
    help = "统计汇总表: 不带参数时统计行数, --rebuild 由案件重新计算 (--since 只算该日以来变动的案件)"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rebuild", action="store_true", help="由案件重新计算事实表和每日汇总")
        parser.add_argument("--since", default=None, help="只重算该日(含)以来变动的案件, 格式 YYYY-MM-DD")

    def handle(self, *args: Any, rebuild: bool, since: str | None, **options: Any) -> None:
        if since and not rebuild:
            raise CommandError("--since 须与 --rebuild 一起使用")
        if rebuild:
            try:
                day = dt.date.fromisoformat(since) if since else None
            except ValueError as exc:
                raise CommandError(f"--since 应为日期 YYYY-MM-DD: {since}") from exc
            result = rebuild_rollups(day)
            self.stdout.write(
                f"已重算 {result['cases']} 件案件, 汇总 {result['rollup_rows']} 行,"
                f" 用时 {result['seconds']} 秒"
            )
        counts = fact_counts()
        self.stdout.write(
            f"案件 {counts['cases']} 件, 已汇总 {counts['facts']} 件, 每日汇总 {counts['rollup_rows']} 行"
        )
