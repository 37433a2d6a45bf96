"""`shequ serve`: the web server (uvicorn, ASGI) and, with the db task backend, the task worker.

The worker is a child process (`shequ worker`), so a crash in a task cannot take the web server
down; serve restarts it if it dies, and stops it when serve itself stops (Ctrl-C, SIGTERM). On Linux
the child also gets SIGTERM if serve is killed outright, so no worker is left behind.

With the celery backend serve starts no worker: workers take tasks from the broker, as many as
wanted, each started with `shequ worker` on this host or others.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any

import uvicorn
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor

from shequ.core import outbox, periodic

STOP_GRACE_SECONDS = 10
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class WorkerSupervisor:
    """Runs `shequ worker` as a child; restarts it when it dies unexpectedly, with a growing pause."""

    def __init__(self, command: list[str], out: Any) -> None:
        self.command = command
        self.out = out
        self.process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="worker-supervisor", daemon=True)

    def _spawn(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and fixed arguments
            self.command, preexec_fn=_die_with_parent if sys.platform == "linux" else None
        )

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self) -> None:
        self._spawn()
        self._thread.start()

    def _watch(self) -> None:
        pause = 1.0
        while not self._stopping.wait(1.0):
            process = self.process
            if process is None or process.poll() is None:
                continue
            started = time.monotonic()
            if process.returncode == 0:
                return  # it stopped on a signal of its own (Ctrl-C reaches the whole process group)
            self.out.write(f"任务进程意外退出(代码 {process.returncode}), {pause:.0f} 秒后重启")
            if self._stopping.wait(pause):
                return
            self._spawn()
            pause = 1.0 if time.monotonic() - started > 60 else min(pause * 2, 30.0)

    def stop(self) -> None:
        self._stopping.set()
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            self.out.write("任务进程未在规定时间内停止, 强制结束")
            process.kill()
            process.wait()


class Command(BaseCommand):
    help = "启动 Shequ: 网页服务(uvicorn)和后台任务进程"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="监听地址 (默认 127.0.0.1)")
        parser.add_argument("--port", type=int, default=8000, help="端口 (默认 8000)")
        parser.add_argument("--no-worker", action="store_true", help="不启动后台任务进程")

    def handle(self, *args: Any, host: str, port: int, no_worker: bool, **options: Any) -> None:
        if not 1 <= port <= 65535:
            raise CommandError(f"端口应在 1 到 65535 之间, 不是 {port}")
        self._check_migrated()
        sock = self._bind(host, port)

        delivered, failed = outbox.replay()
        self.stdout.write(f"未处理的领域事件: 已投递 {delivered}, 失败 {failed}")
        connections.close_all()  # the server and the worker open their own
        scheduler = periodic.Scheduler()  # periodic tasks (the deadline sweep) are enqueued from here

        server = uvicorn.Server(
            uvicorn.Config(
                "shequ.asgi:application",
                lifespan="off",
                log_level=logging.getLevelName(logging.getLogger().getEffectiveLevel()).lower(),
                proxy_headers=bool(getattr(settings, "SECURE_PROXY_SSL_HEADER", None)),
                server_header=False,
            )
        )

        # uvicorn takes SIGINT/SIGTERM while it runs and raises them again once it is done; these
        # handlers take a signal that comes before it starts or after it ends, so that serve always
        # gets to stop the worker below instead of dying and abandoning it.
        def stop_server(signum: int, frame: Any) -> None:
            server.should_exit = True

        previous = {sig: signal.signal(sig, stop_server) for sig in (signal.SIGINT, signal.SIGTERM)}
        supervisor = None
        embedded: list[Any] = []  # the camera side's threads (vision engine, MQTT consumer)
        try:
            if no_worker:
                self.stdout.write("未启动后台任务进程 (--no-worker)")
            elif settings.TASKS_BACKEND == "celery":
                self.stdout.write("任务后端为 celery: 请在本机或其他主机运行 `shequ worker` 执行任务")
            elif settings.TASKS_BACKEND == "immediate":
                self.stdout.write("任务后端为 immediate: 任务在发起它的进程里直接执行, 不需要任务进程")
            else:
                command = [sys.executable, "-m", "shequ", "worker"]
                supervisor = WorkerSupervisor(command, self.stdout)
                supervisor.start()
                self.stdout.write(f"后台任务进程已启动 (pid {supervisor.pid})")
            shown_host = f"[{host}]" if ":" in host else host
            self.stdout.write(self.style.SUCCESS(f"Shequ 已启动: http://{shown_host}:{port}/  (Ctrl-C 停止)"))
            scheduler.start()
            self.stdout.write(f"定时任务已启动: {', '.join(e.name for e in scheduler.entries)}")
            self._start_video(embedded)
            self._start_drones(embedded)
            self.stdout.flush()
            server.run(sockets=[sock])
        finally:
            scheduler.stop()
            for part in reversed(embedded):
                part.stop()
            if supervisor is not None:
                supervisor.stop()
            sock.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.stdout.write("Shequ 已停止")

    def _start_video(self, started: list[Any]) -> None:
        """The camera side in threads of this process: the vision engine when SHEQU_VISION is
        "embedded" (docs/video.md), and the MQTT consumer of camera events when SHEQU_MQTT_URL is set."""
        from shequ.video.mqtt import MqttConsumer
        from shequ.video.worker import VisionService

        if settings.VISION == "embedded":
            vision = VisionService((0, 1))
            vision.start()
            started.append(vision)
            self.stdout.write("视频分析已启动 (内嵌; SHEQU_VISION=off 时由 shequ vision-worker 进程分析)")
        if settings.MQTT_URL:
            consumer = MqttConsumer()
            consumer.start()
            started.append(consumer)
            self.stdout.write(f"MQTT 告警消费已启动: {consumer.broker.host}:{consumer.broker.port}")

    def _start_drones(self, started: list[Any]) -> None:
        """The MAVLink telemetry receiver in a thread when SHEQU_DRONE_MAVLINK_UDP is set (docs/drones.md;
        JSON telemetry over MQTT comes through the MQTT consumer above)."""
        if not settings.DRONE_MAVLINK_UDP:
            return
        from shequ.drones.telemetry import UdpService

        try:
            service = UdpService(settings.DRONE_MAVLINK_UDP)
        except (ValueError, OSError) as exc:
            raise CommandError(
                f"无法接收无人机遥测 SHEQU_DRONE_MAVLINK_UDP={settings.DRONE_MAVLINK_UDP}: {exc}"
            ) from None
        service.start()
        started.append(service)
        host, port = service.address
        self.stdout.write(f"无人机遥测接收已启动: UDP {host}:{port} (MAVLink)")

    def _check_migrated(self) -> None:
        connection = connections[DEFAULT_DB_ALIAS]
        executor = MigrationExecutor(connection)
        if executor.migration_plan(executor.loader.graph.leaf_nodes()):
            raise CommandError("数据库尚未迁移到最新: 请先运行 `shequ migrate`")

    def _bind(self, host: str, port: int) -> socket.socket:
        """Bind before anything starts, so a taken port is a clear error and not a half-started server."""
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        except socket.gaierror as exc:
            raise CommandError(f"无法解析监听地址 {host!r}: {exc}") from None
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            sock.close()
            raise CommandError(f"无法监听 {host}:{port}: {exc.strerror}") from None
        return sock
