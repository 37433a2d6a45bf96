"""`shequ vision-worker --shard i/n`: the vision engine as a process of its own, watching the cameras
whose id modulo n is i, until SIGTERM or Ctrl-C (docs/video.md "Workers"). Run n of them, on one
host or many, with SHEQU_VISION=off for `shequ serve` so that serve does not watch them as well.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from shequ.video.worker import VisionService, parse_shard


class Command(BaseCommand):
    help = "视频分析进程: 分析本分片的摄像头(摄像头 id 除以 n 余 i), 直到收到 SIGTERM 或 Ctrl-C"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--shard", default="0/1", help="分片 i/n (默认 0/1: 全部摄像头)")
        parser.add_argument("--reload-seconds", type=float, default=30.0, help="重新读取摄像头的间隔(秒)")
        parser.add_argument("--flush-seconds", type=float, default=30.0, help="保存运行指标的间隔(秒)")

    def handle(
        self, *args: Any, shard: str, reload_seconds: float, flush_seconds: float, **options: Any
    ) -> None:
        try:
            index, count = parse_shard(shard)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if not (1 <= reload_seconds <= 3600 and 1 <= flush_seconds <= 3600):
            raise CommandError("间隔应在 1 到 3600 秒之间")
        if settings.VISION == "embedded":
            self.stderr.write(
                "提示: SHEQU_VISION=embedded 时 shequ serve 也在分析摄像头; 多进程部署请设为 off"
            )
        service = VisionService((index, count), reload_seconds=reload_seconds, flush_seconds=flush_seconds)
        stop = threading.Event()

        def on_signal(signum: int, frame: Any) -> None:
            stop.set()

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            service.start()
            self.stdout.write(f"视频分析分片 {index}/{count} 已启动 (Ctrl-C 停止)")
            self.stdout.flush()
            while not stop.wait(1.0):
                pass
        finally:
            self.stdout.write("正在停止视频分析...")
            service.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.stdout.write(f"视频分析分片 {index}/{count} 已停止")
