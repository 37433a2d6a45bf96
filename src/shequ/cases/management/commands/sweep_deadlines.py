"""`shequ sweep-deadlines`: warn, mark overdue and supervise the cases past their time limits now
(what `shequ serve` has the task worker do every few minutes)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from shequ.cases.services.deadlines import sweep_deadlines
from shequ.cases.tasks import sweep_deadlines_task


class Command(BaseCommand):
    help = "检查案件时限: 预警、超期、自动督办 (幂等, 可随时运行)"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--enqueue", action="store_true", help="交给后台任务进程执行, 不在本进程执行")

    def handle(self, *args: Any, enqueue: bool, **options: Any) -> None:
        if enqueue:
            result = sweep_deadlines_task.enqueue()
            self.stdout.write(f"已提交后台任务 {result.id}")
            return
        counts = sweep_deadlines()
        self.stdout.write(
            f"已检查 {counts['checked']} 件: 预警 {counts['warning']}, 超期 {counts['overdue']}, "
            f"督办 {counts['supervised']}"
        )
