"""Drone telemetry into the flight services, three ways (docs/drones.md, "Flights and telemetry"):

- MAVLink over UDP: `UdpService` runs a `shequ_vision.telemetry.MavlinkReceiver` in a thread and
  records each half second's samples at once, the drone found by its MAVLink system id. `shequ
  serve` runs one when SHEQU_DRONE_MAVLINK_UDP is set; `shequ drone telemetry --udp HOST:PORT`
  runs one in the foreground (`main`).
- JSON over MQTT (`shequ/drones/<code>/telemetry`): the one MQTT consumer (shequ.video.mqtt)
  hands those messages to `ingest_mqtt`.
- JSON over HTTP (POST /api/drones/<code>/telemetry): `record_json`, for drones a ground station
  relays.

A sample from an unknown or deactivated drone, or one that does not parse, is counted and dropped;
nothing a drone sends stops a receiver.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from collections import Counter, defaultdict
from typing import Any, TextIO

from django.conf import settings
from django.db import close_old_connections

from shequ.core.errors import DomainError, Invalid
from shequ.drones.models import Drone
from shequ.drones.services.flights import Recorded, record_telemetry
from shequ_vision.telemetry import (
    DEFAULT_URL,
    MavlinkReceiver,
    TelemetryError,
    TelemetrySample,
    parse_json_samples,
)

log = logging.getLogger(__name__)

FLUSH_S = 0.5  # samples are recorded in batches of this many seconds (10 Hz × drones stays cheap)
DRONES_REFRESH_S = 30.0  # a drone registered or given a system id is seen within this long


class UnknownDrone(Invalid):
    """No active drone has this code (422; the MQTT consumer counts it as "unknown_drone")."""

    reason = "unknown_drone"

    def __init__(self, code: str) -> None:
        super().__init__(f"没有编号为 {code[:40]} 的启用中的无人机", field="drone")


class BadTelemetry(Invalid):
    """A JSON body refused: `errors` lists every refused field ("3.lat" for an item of a batch)."""

    reason = "invalid"

    def __init__(self, errors: list[dict[str, str]]) -> None:
        first = errors[0]
        super().__init__(
            f"遥测数据无效: {first['field'] or '-'}: {first['message']}", field=first["field"] or None
        )
        self.errors = errors


def samples_from_json(data: Any) -> list[TelemetrySample]:
    try:
        return parse_json_samples(data)
    except TelemetryError as exc:
        raise BadTelemetry(exc.errors) from None


def record_json(drone: Drone, data: Any) -> Recorded:
    """One JSON sample or a list of them (HTTP, MQTT)."""
    return record_telemetry(drone, samples_from_json(data))


def ingest_mqtt(code: str, data: Any) -> str:
    """A telemetry message of drone `code` from the MQTT consumer; returns its outcome."""
    drone = Drone.objects.filter(code=code, is_active=True).first()
    if drone is None:
        raise UnknownDrone(code)
    record_json(drone, data)
    return "telemetry"


class TelemetryRecorder:
    """Records MAVLink samples, each drone by its system id; `counters` says what became of them."""

    def __init__(self) -> None:
        self.counters: Counter[str] = Counter()
        self._drones: dict[int, Drone] = {}
        self._loaded = -DRONES_REFRESH_S

    def _drone(self, system_id: int) -> Drone | None:
        if time.monotonic() - self._loaded >= DRONES_REFRESH_S:
            active = Drone.objects.filter(is_active=True, mavlink_system_id__isnull=False)
            self._drones = {d.mavlink_system_id: d for d in active if d.mavlink_system_id is not None}
            self._loaded = time.monotonic()
        return self._drones.get(system_id)

    def record(self, samples: list[TelemetrySample]) -> None:
        by_system: defaultdict[int, list[TelemetrySample]] = defaultdict(list)
        for sample in samples:
            by_system[sample.system_id or 0].append(sample)
        for system_id, group in by_system.items():
            drone = self._drone(system_id)
            if drone is None:
                self.counters["unknown_system"] += len(group)
                if self.counters["unknown_system"] == len(group):
                    log.warning("MAVLink 系统号 %s 未登记到任何启用中的无人机: 样本被忽略", system_id)
                continue
            try:
                result = record_telemetry(drone, group)
            except DomainError as exc:
                self.counters["refused"] += len(group)
                log.warning("无人机 %s 的遥测被拒绝: %s", drone.code, exc.message)
                continue
            except Exception:
                self.counters["errors"] += len(group)
                log.exception("记录无人机 %s 的遥测出错", drone.code)
                continue
            self.counters["points"] += result.points
            self.counters["skipped"] += result.skipped
            if result.opened is not None:
                self.counters["flights_opened"] += 1
                log.info("无人机 %s 起飞: 架次 %s", drone.code, result.opened.pk)
            if result.landed is not None:
                self.counters["flights_landed"] += 1
                log.info("无人机 %s 降落: 架次 %s", drone.code, result.landed.pk)


class UdpService:
    """The MAVLink receiver in a thread (`start`/`stop`) or in the caller's (`run`)."""

    def __init__(self, url: str | None = None, *, flush_s: float = FLUSH_S) -> None:
        self.receiver = MavlinkReceiver(url or settings.DRONE_MAVLINK_UDP or DEFAULT_URL)
        self.recorder = TelemetryRecorder()
        self.flush_s = flush_s
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        return self.receiver.address

    @property
    def counters(self) -> dict[str, int]:
        return dict(self.receiver.counters) | dict(self.recorder.counters)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="drone-telemetry", daemon=True)
        self._thread.start()

    def run(self) -> None:
        try:
            for batch in self.receiver.batches(self.flush_s):
                if batch:
                    close_old_connections()
                    self.recorder.record(batch)
        finally:
            close_old_connections()

    def stop(self, timeout: float = 10.0) -> None:
        self.receiver.stop()
        if self._thread is not None:
            self._thread.join(timeout)
        self.receiver.close()
        log.info("无人机遥测接收已停止; 计数 %s", self.counters)


def _summary(counters: dict[str, int]) -> str:
    return (
        f"数据报 {counters.get('datagrams', 0)}, 位置样本 {counters.get('samples', 0)}, "
        f"航迹点 {counters.get('points', 0)}, 起飞 {counters.get('flights_opened', 0)}, "
        f"降落 {counters.get('flights_landed', 0)}, 未登记系统号 {counters.get('unknown_system', 0)}, "
        f"畸形 {counters.get('malformed', 0)}, 出错 {counters.get('errors', 0)}"
    )


def main(
    argv: list[str],
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    *,
    stop: threading.Event | None = None,
) -> int:
    """`shequ drone telemetry [--udp HOST:PORT] [--every S]`: receive MAVLink over UDP into the
    flights until Ctrl-C or SIGTERM (or `stop` is set), printing the counts every S seconds."""
    parser = argparse.ArgumentParser(
        prog="shequ drone telemetry",
        description="接收无人机 MAVLink 遥测 (UDP) 并记录架次和航迹, 直到 Ctrl-C",
    )
    parser.add_argument(
        "--udp",
        default=settings.DRONE_MAVLINK_UDP or DEFAULT_URL,
        help="监听地址 HOST:PORT 或 udpin:HOST:PORT (默认 SHEQU_DRONE_MAVLINK_UDP 或 0.0.0.0:14550)",
    )
    parser.add_argument("--every", type=float, default=10.0, help="每隔多少秒打印计数 (默认 10)")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if not 0.1 <= args.every <= 86400:
        err.write("--every 应在 0.1 到 86400 秒之间\n")
        return 2
    try:
        service = UdpService(args.udp)
    except (ValueError, OSError) as exc:
        err.write(f"无法监听 {args.udp}: {exc}\n")
        return 2
    stop = stop or threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        service.start()
        host, port = service.address
        out.write(f"无人机遥测接收已启动: UDP {host}:{port} (Ctrl-C 停止)\n")
        out.flush()
        while not stop.wait(args.every):
            out.write(_summary(service.counters) + "\n")
            out.flush()
    finally:
        service.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        out.write(f"无人机遥测接收已停止; {_summary(service.counters)}\n")
    return 0
