"""`shequ purge-positions`: delete staff positions past their retention now (what `shequ serve` has
the task worker do every hour)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from shequ.units.services import purge_positions, retention_days


class Command(BaseCommand):
    help = "删除超过保存期限的人员位置记录 (幂等, 可随时运行)"

    def handle(self, *args: Any, **options: Any) -> None:
        counts = purge_positions()
        deleted, forgotten = counts["deleted"], counts["forgotten"]
        self.stdout.write(
            f"保存期限 {retention_days()} 天: 删除位置 {deleted} 条, 清除过期最后位置 {forgotten} 个"
        )
