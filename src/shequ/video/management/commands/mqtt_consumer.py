"""`shequ mqtt-consumer`: the MQTT consumer of camera events as a process of its own (docs/video.md
"External events: MQTT"); `shequ serve` runs one in a thread when SHEQU_MQTT_URL is set. Several
consumers share the messages (MQTT 5 shared subscriptions), so run as many as the load needs.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from shequ.video.mqtt import MqttConsumer


class Command(BaseCommand):
    help = "MQTT 告警消费进程: 接收摄像头/NVR/Frigate 的事件消息并生成告警, 直到收到 SIGTERM 或 Ctrl-C"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", default=None, help="代理地址 (默认 SHEQU_MQTT_URL)")
        parser.add_argument("--topics", default=None, help="订阅主题, 逗号分隔 (默认 SHEQU_MQTT_TOPICS)")

    def handle(self, *args: Any, url: str | None, topics: str | None, **options: Any) -> None:
        url = url or settings.MQTT_URL
        if not url:
            raise CommandError("未配置 MQTT 代理: 设置 SHEQU_MQTT_URL 或使用 --url")
        try:
            consumer = MqttConsumer(url, topics.split(",") if topics else None)
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        stop = threading.Event()

        def on_signal(signum: int, frame: Any) -> None:
            stop.set()

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            consumer.start()
            self.stdout.write(
                f"MQTT 消费者已启动: {consumer.broker.host}:{consumer.broker.port} (Ctrl-C 停止)"
            )
            self.stdout.flush()
            while not stop.wait(1.0):
                pass
        finally:
            consumer.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.stdout.write(f"MQTT 消费者已停止; 计数 {dict(consumer.counters)}")
