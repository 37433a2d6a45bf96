"""`shequ sweep-instructions`: escalate the instructions left unacknowledged past their limit now
(what `shequ serve` has the task worker do every minute)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from shequ.command.services import sweep_instructions
from shequ.command.tasks import sweep_instructions_task


class Command(BaseCommand):
    help = "检查指令签收时限: 超时未签收的自动升级 (幂等, 可随时运行)"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--enqueue", action="store_true", help="交给后台任务进程执行, 不在本进程执行")

    def handle(self, *args: Any, enqueue: bool, **options: Any) -> None:
        if enqueue:
            result = sweep_instructions_task.enqueue()
            self.stdout.write(f"已提交后台任务 {result.id}")
            return
        counts = sweep_instructions()
        self.stdout.write(
            f"已检查 {counts['checked']} 条: 升级 {counts['escalated']}, 失败 {counts['failed']}"
        )
