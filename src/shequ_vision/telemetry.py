"""Drone telemetry in: MAVLink over UDP (pymavlink) and the JSON body of MQTT/HTTP, both turned into
one `TelemetrySample` per position report (docs/drones.md, "Flights and telemetry").

No Django here: `shequ.drones.telemetry` feeds the samples into the flight services.

MAVLink: an autopilot (or a ground station relaying it) sends datagrams to `udpin:HOST:PORT`. Each
GLOBAL_POSITION_INT makes a sample, merged with the latest of the same system's HEARTBEAT (armed
flag, flight mode), SYS_STATUS (battery) and VFR_HUD (ground speed). Its time is the autopilot's
own clock when it has sent SYSTEM_TIME (so a replayed log keeps its times, and the stored track
stays idempotent), else the receive clock. Every datagram is parsed on its own (UDP carries whole
packets): bytes that are no MAVLink are counted as malformed and never stop the receiver.
"""

from __future__ import annotations

import logging
import math
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_URL = "udpin:0.0.0.0:14550"
MAX_DATAGRAM = 65535
# A sample dated further ahead of the receiving clock than this is refused (a drone's wrong clock
# would otherwise open flights in the future).
MAX_CLOCK_AHEAD = timedelta(minutes=5)
# Each counter of MavlinkReceiver.counters.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)  # a clock before this was never set
Y2000 = EARLIEST.timestamp()
COUNTERS = ("datagrams", "samples", "malformed", "unknown", "no_fix", "other", "errors")


@dataclass(frozen=True)
class TelemetrySample:
    """One position report of a drone. `system_id` is the MAVLink system id (None for JSON, where the
    drone is named by the topic or URL); altitudes in metres (`alt_m` above take-off, `alt_msl_m`
    above sea level); heading degrees clockwise from north; battery percent."""

    system_id: int | None
    at: datetime  # aware, UTC
    lon: float
    lat: float
    alt_m: float | None = None
    alt_msl_m: float | None = None
    heading: float | None = None
    speed_m_s: float | None = None
    battery: int | None = None
    armed: bool | None = None
    mode: str = ""


class TelemetryError(ValueError):
    """A JSON sample refused: `errors` is [{"field", "message"}] for every refused field (Chinese)."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))
        self.errors = errors


# --- the JSON body ---------------------------------------------------------------------------------

JSON_FIELDS = ("at", "lat", "lon", "alt", "alt_msl", "heading", "speed", "battery", "armed", "mode")
# (field, low, high, what it is): a number outside is refused, not clamped.
_NUMBERS: dict[str, tuple[float, float, str]] = {
    "lat": (-90.0, 90.0, "纬度 (WGS-84)"),
    "lon": (-180.0, 180.0, "经度 (WGS-84)"),
    "alt": (-500.0, 10000.0, "相对起飞点高度(米)"),
    "alt_msl": (-500.0, 12000.0, "海拔高度(米)"),
    "heading": (0.0, 360.0, "航向(度, 正北为 0, 顺时针)"),
    "speed": (0.0, 200.0, "地速(米/秒)"),
    "battery": (0.0, 100.0, "电量(%)"),
}


def _number(value: Any, name: str) -> float:
    low, high, what = _NUMBERS[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what}应为数字")
    number = float(value)
    if not math.isfinite(number) or not low <= number <= high:
        raise ValueError(f"{what}应在 {low:g} 到 {high:g} 之间")
    return number


def _moment(value: Any, now: datetime) -> datetime:
    if not isinstance(value, str) or len(value) > 40:
        raise ValueError("时间应为 ISO 8601 文本, 带时区 (如 2026-05-01T08:30:00.5+08:00 或 ...Z)")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("时间应为 ISO 8601 文本, 带时区 (如 2026-05-01T08:30:00.5+08:00 或 ...Z)") from None
    if moment.tzinfo is None:
        raise ValueError("时间须带时区 (如 +08:00 或 Z)")
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01 at a positive offset is before the calendar's first day
        moment = EARLIEST - timedelta(days=1)
    if moment < EARLIEST:
        raise ValueError("时间早于 2000 年: 请检查无人机或地面站的时钟")
    if moment > now + MAX_CLOCK_AHEAD:
        raise ValueError("时间晚于当前时间: 请检查无人机或地面站的时钟")
    return moment


def parse_json_sample(obj: Any, *, now: datetime | None = None) -> TelemetrySample:
    """One sample of the documented JSON body:
    {"at": ISO-8601 with offset, "lat", "lon", "alt"?, "alt_msl"?, "heading"?, "speed"?,
    "battery"?, "armed"?, "mode"?}. Raises TelemetryError listing every refused field."""
    if not isinstance(obj, Mapping):
        raise TelemetryError([{"field": "", "message": "遥测数据应为 JSON 对象"}])
    now = now or datetime.now(UTC)
    errors: list[dict[str, str]] = []
    unknown = sorted(str(k)[:40] for k in obj if k not in JSON_FIELDS)
    if unknown:
        errors.append({"field": unknown[0], "message": f"未知字段: {', '.join(unknown)[:200]}"})
    values: dict[str, Any] = {}
    for name in ("at", "lat", "lon"):
        if obj.get(name) is None:
            errors.append({"field": name, "message": "不能为空"})
    for name, value in obj.items():
        if name not in JSON_FIELDS or value is None:
            continue
        try:
            if name == "at":
                values[name] = _moment(value, now)
            elif name == "armed":
                if not isinstance(value, bool):
                    raise ValueError("应为 true 或 false")
                values[name] = value
            elif name == "mode":
                if not isinstance(value, str) or len(value) > 40:
                    raise ValueError("飞行模式应为不超过 40 字的文本")
                values[name] = value.strip()
            else:
                values[name] = _number(value, name)
        except ValueError as exc:
            errors.append({"field": name, "message": str(exc)})
    if errors:
        raise TelemetryError(errors)
    return TelemetrySample(
        system_id=None,
        at=values["at"],
        lon=values["lon"],
        lat=values["lat"],
        alt_m=values.get("alt"),
        alt_msl_m=values.get("alt_msl"),
        heading=values.get("heading"),
        speed_m_s=values.get("speed"),
        battery=round(values["battery"]) if "battery" in values else None,
        armed=values.get("armed"),
        mode=values.get("mode", ""),
    )


def parse_json_samples(data: Any, *, now: datetime | None = None, limit: int = 1000) -> list[TelemetrySample]:
    """A sample or a list of them (a batch); errors name the item ("3.lat")."""
    if isinstance(data, list):
        if not data:
            raise TelemetryError([{"field": "", "message": "遥测数据为空列表"}])
        if len(data) > limit:
            raise TelemetryError([{"field": "", "message": f"一次最多 {limit} 条遥测数据"}])
        samples: list[TelemetrySample] = []
        errors: list[dict[str, str]] = []
        for i, item in enumerate(data):
            try:
                samples.append(parse_json_sample(item, now=now))
            except TelemetryError as exc:
                errors.extend(
                    {"field": f"{i}.{e['field']}".rstrip("."), "message": e["message"]} for e in exc.errors
                )
        if errors:
            raise TelemetryError(errors)
        return samples
    return [parse_json_sample(data, now=now)]


# --- MAVLink over UDP -------------------------------------------------------------------------------


def parse_url(url: str) -> tuple[str, int]:
    """`udpin:HOST:PORT` (pymavlink's spelling; `udp:` is the same) or just `HOST:PORT` -> (host,
    port). Port 0 takes a free one (tests)."""
    parts = url.strip().split(":")
    if len(parts) == 3 and parts[0] in ("udpin", "udp"):
        parts = parts[1:]
    if len(parts) != 2 or not parts[0] or not parts[1].isdigit() or int(parts[1]) > 65535:
        raise ValueError(f"MAVLink 地址应形如 udpin:0.0.0.0:14550 (UDP 监听), 不是 {url!r}")
    return parts[0], int(parts[1])


@dataclass
class _SystemState:
    """What the latest non-position messages of one MAVLink system said."""

    armed: bool | None = None
    mode: str = ""
    battery: int | None = None
    groundspeed: float | None = None
    # Autopilot clock: UNIX time at its boot (from SYSTEM_TIME), to date GLOBAL_POSITION_INT.
    boot_at_unix: float | None = None


class MavlinkReceiver:
    """Receives MAVLink datagrams on a UDP port and yields `TelemetrySample`s.

    Use as an iterator (`for sample in receiver`) or `batches(interval)` (lists of the samples of
    each interval, empty ones too, so a caller can flush on time); `stop()` ends both from another
    thread within `poll_s`. `address` is the bound (host, port); `counters` counts datagrams,
    samples, malformed packets, unknown messages, positions without a GPS fix and other messages.
    """

    def __init__(self, url: str = DEFAULT_URL, *, poll_s: float = 0.2) -> None:
        from pymavlink.dialects.v20 import all as mavlink  # parses MAVLink 1 and 2, every dialect

        self._mavlink = mavlink
        host, port = parse_url(url)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._sock.bind((host, port))
        except OSError:
            self._sock.close()
            raise
        self._sock.settimeout(poll_s)
        self.address: tuple[str, int] = self._sock.getsockname()[:2]
        self.counters: Counter[str] = Counter({name: 0 for name in COUNTERS})
        self._systems: dict[int, _SystemState] = {}
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()

    @property
    def stopped(self) -> bool:
        return self._stopping.is_set()

    def close(self) -> None:
        self.stop()
        self._sock.close()

    def __enter__(self) -> MavlinkReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[TelemetrySample]:
        while not self._stopping.is_set():
            yield from self._receive_one()

    def batches(self, interval: float = 0.5) -> Iterator[list[TelemetrySample]]:
        """The samples received in each `interval` seconds, until `stop()`."""
        while not self._stopping.is_set():
            deadline = time.monotonic() + interval
            batch: list[TelemetrySample] = []
            while time.monotonic() < deadline and not self._stopping.is_set():
                batch.extend(self._receive_one())
            yield batch

    def _receive_one(self) -> list[TelemetrySample]:
        try:
            data = self._sock.recv(MAX_DATAGRAM)
        except TimeoutError:
            return []
        except OSError:
            if self._stopping.is_set():
                return []
            raise
        return self.feed(data)

    def feed(self, data: bytes, received_at: float | None = None) -> list[TelemetrySample]:
        """Parse one datagram; returns the samples in it. Never raises for bad input."""
        self.counters["datagrams"] += 1
        received = time.time() if received_at is None else received_at
        parser = self._mavlink.MAVLink(None)
        parser.robust_parsing = True
        try:
            messages = parser.parse_buffer(data) or []
        except Exception as exc:  # a pymavlink bug on hostile bytes must not end the receiver
            self.counters["malformed"] += 1
            log.debug("MAVLink 数据报无法解析: %r", exc)
            return []
        samples: list[TelemetrySample] = []
        bad = False
        for message in messages:
            try:
                sample = self._message(message, received)
            except Exception:
                self.counters["errors"] += 1
                log.exception("MAVLink 消息处理出错: %s", message.get_type())
                continue
            if sample is not None:
                samples.append(sample)
            bad = bad or message.get_type() == "BAD_DATA"
        if bad or not messages:
            self.counters["malformed"] += 1
        self.counters["samples"] += len(samples)
        return samples

    def _message(self, message: Any, received: float) -> TelemetrySample | None:
        kind = message.get_type()
        if kind == "BAD_DATA":
            return None
        if kind.startswith("UNKNOWN_"):
            self.counters["unknown"] += 1
            return None
        system = message.get_srcSystem()
        state = self._systems.setdefault(system, _SystemState())
        mavlink = self._mavlink
        if kind == "HEARTBEAT":
            # Only the autopilot's heartbeat says armed; a camera or gimbal of the same system
            # sends its own (autopilot "invalid") that must not disarm the drone.
            if message.autopilot != mavlink.MAV_AUTOPILOT_INVALID and message.type != mavlink.MAV_TYPE_GCS:
                state.armed = bool(message.base_mode & mavlink.MAV_MODE_FLAG_SAFETY_ARMED)
                state.mode = _mode(message)
            else:
                self.counters["other"] += 1
            return None
        if kind == "SYS_STATUS":
            state.battery = message.battery_remaining if 0 <= message.battery_remaining <= 100 else None
            return None
        if kind == "VFR_HUD":
            speed = float(message.groundspeed)
            state.groundspeed = speed if math.isfinite(speed) and speed >= 0 else None
            return None
        if kind == "SYSTEM_TIME":
            if message.time_unix_usec > 0:
                state.boot_at_unix = message.time_unix_usec / 1e6 - message.time_boot_ms / 1e3
            return None
        if kind != "GLOBAL_POSITION_INT":
            self.counters["other"] += 1
            return None
        lat, lon = message.lat / 1e7, message.lon / 1e7
        if (message.lat == 0 and message.lon == 0) or abs(lat) > 90 or abs(lon) > 180:
            self.counters["no_fix"] += 1
            return None
        stamp = received
        if state.boot_at_unix is not None:
            # The autopilot's clock, unless it runs ahead of ours (a wrong RTC): then ours.
            own = state.boot_at_unix + message.time_boot_ms / 1e3
            if Y2000 < own <= received + MAX_CLOCK_AHEAD.total_seconds():
                stamp = own
        at = datetime.fromtimestamp(stamp, UTC)
        speed = (
            state.groundspeed if state.groundspeed is not None else math.hypot(message.vx, message.vy) / 100
        )
        return TelemetrySample(
            system_id=system,
            at=at,
            lon=lon,
            lat=lat,
            alt_m=message.relative_alt / 1000.0,
            alt_msl_m=message.alt / 1000.0,
            heading=message.hdg / 100.0 if message.hdg != 65535 else None,
            speed_m_s=round(speed, 2),
            battery=state.battery,
            armed=state.armed,
            mode=state.mode,
        )


def _mode(heartbeat: Any) -> str:
    from pymavlink import mavutil

    try:
        return str(mavutil.mode_string_v10(heartbeat))[:40]
    except Exception:  # an autopilot type pymavlink has no mode table for
        return f"Mode({heartbeat.custom_mode})"
