"""`shequ worker`: run background tasks, whichever task backend is configured.

On many hosts, web hosts run `shequ serve` and worker hosts run `shequ worker` (docs/configuration.md).
With the db backend this is django-tasks-db's worker (the one `shequ serve` also starts); with
celery it is a Celery worker on the broker, taking the queues Shequ's tasks use. SIGTERM or Ctrl-C
lets the running task finish, then stops.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = "运行后台任务进程 (按 SHEQU_TASKS_BACKEND: db 或 celery)"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--queues", default="", help="只处理这些队列, 逗号分隔 (默认: 设置中的全部队列)")
        parser.add_argument(
            "--concurrency",
            type=int,
            default=None,
            help="celery: 同时执行的任务数 (默认: CPU 核数); db 后端每个进程一次一个, 多开进程即可",
        )

    def handle(self, *args: Any, queues: str, concurrency: int | None, **options: Any) -> None:
        configured = list(settings.TASKS["default"]["QUEUES"])
        chosen = [name.strip() for name in queues.split(",") if name.strip()] or configured
        unknown = sorted(set(chosen) - set(configured))
        if unknown:
            raise CommandError(f"未知的队列: {', '.join(unknown)} (可用: {', '.join(configured)})")
        if concurrency is not None and concurrency < 1:
            raise CommandError("--concurrency 至少为 1")

        if settings.TASKS_BACKEND == "db":
            call_command(
                "db_worker",
                queue_name="*" if chosen == configured else ",".join(chosen),
                reload=False,
                verbosity=options["verbosity"],
            )
        elif settings.TASKS_BACKEND == "celery":
            self._run_celery(chosen, concurrency)
        else:
            raise CommandError(f"任务后端 {settings.TASKS_BACKEND} 在发起任务的进程里直接执行, 不需要 worker")

    def _run_celery(self, queues: list[str], concurrency: int | None) -> None:
        from shequ.celery import app

        worker = app.Worker(
            # One name per process, so several workers on one host do not clash.
            hostname=f"shequ-{os.getpid()}@{socket.gethostname()}",
            queues=queues,
            concurrency=concurrency,
            # Mingle and gossip sync revoked tasks between workers; Shequ revokes none, and mingle
            # makes every start wait for replies.
            without_mingle=True,
            without_gossip=True,
        )
        worker.start()
        if worker.exitcode:
            raise CommandError(f"celery worker 退出, 代码 {worker.exitcode}", returncode=worker.exitcode)
