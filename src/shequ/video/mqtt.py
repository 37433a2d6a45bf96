"""The MQTT consumer of camera events (docs/video.md "External events: MQTT").

It subscribes to `settings.MQTT_TOPICS` on the broker of `settings.MQTT_URL` and turns messages into
alerts through `video.ingest`. Each topic filter says what its messages are:

- a filter with a `+` level (`shequ/cameras/+/events`): the generic event body of the webhook, the
  camera code taken from the topic level under the `+` (the body may omit `camera`);
- a filter ending in `/events` (`frigate/events`): Frigate's tracked-object messages;
- a filter ending in `/reviews` (`frigate/reviews`): Frigate's review items;
- anything else: the generic body, with `camera` in it.

Drone telemetry comes through the same consumer: the filters of `settings.DRONE_MQTT_TOPICS`
(`shequ/drones/+/telemetry`) carry the JSON telemetry body of docs/drones.md, the drone's code at
the `+` level, and are handed to `shequ.drones.telemetry.ingest_mqtt`.

With MQTT 5 (the default) the subscriptions are shared (`$share/<group>/<filter>`): the broker hands
each message to one consumer of the group, so several `shequ serve` or `shequ mqtt-consumer`
processes split the load. For a broker without MQTT 5, `SHEQU_MQTT_PROTOCOL=3.1.1` (and a v5
refusal at connect makes the consumer fall back by itself); every consumer then receives every
message, which stays correct (an event is one alert whoever takes it) but does the work N times.

A message is acknowledged (QoS 1) after it has been handled. A malformed one (not JSON, wrong
fields, unknown camera, too large) is logged with its reason and counted in `counters`, and never
stops the consumer; when the broker goes away the client reconnects with a doubling pause.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as paho
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import close_old_connections
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from shequ.core.errors import DomainError
from shequ.video import ingest
from shequ.video.models import AlertOrigin

log = logging.getLogger(__name__)

RouteKind = Literal["generic", "frigate_events", "frigate_reviews", "drone_telemetry"]
REJECTIONS = (
    "bad_json",
    "invalid",
    "unknown_camera",
    "unknown_drone",
    "camera_mismatch",
    "bad_snapshot",
    "too_large",
    "unknown_topic",
    "error",
)


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    username: str | None
    password: str | None
    tls: bool


def parse_url(url: str) -> Broker:
    """`mqtt://user:pass@host:1883` (or `mqtts://` for TLS, default ports 1883 and 8883)."""
    parts = urlsplit(url)
    if parts.scheme not in {"mqtt", "mqtts", "tcp", "ssl"} or not parts.hostname:
        raise ImproperlyConfigured(
            f"SHEQU_MQTT_URL 应形如 mqtt://用户:密码@主机:1883, 不是 {parts.scheme}://..."
        )
    tls = parts.scheme in {"mqtts", "ssl"}
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError:
        raise ImproperlyConfigured("SHEQU_MQTT_URL 的端口无效") from None
    return Broker(
        host=parts.hostname,
        port=port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        tls=tls,
    )


@dataclass(frozen=True)
class Route:
    filter: str
    kind: RouteKind
    camera_level: int | None = None  # the topic level that names the camera (or the drone)


def route_for(topic_filter: str) -> Route:
    levels = topic_filter.split("/")
    if "+" in levels:
        return Route(topic_filter, "generic", levels.index("+"))
    if levels[-1] == "events" and "#" not in levels:
        return Route(topic_filter, "frigate_events")
    if levels[-1] == "reviews":
        return Route(topic_filter, "frigate_reviews")
    return Route(topic_filter, "generic")


def drone_route(topic_filter: str) -> Route:
    levels = topic_filter.split("/")
    if "+" not in levels:
        raise ImproperlyConfigured(f"SHEQU_DRONE_MQTT_TOPICS: {topic_filter} 应有一层 + (无人机编号)")
    return Route(topic_filter, "drone_telemetry", levels.index("+"))


class MqttConsumer:
    """Consumes camera events from the broker in a thread (`start`/`stop`) or in the caller's
    (`run`). `counters` counts outcomes: created, repeat, ignored (Frigate messages that make no
    alert), and each rejection reason of REJECTIONS."""

    def __init__(
        self,
        url: str | None = None,
        topics: list[str] | None = None,
        *,
        drone_topics: list[str] | None = None,
        group: str | None = None,
        protocol: str | None = None,
        client_id: str | None = None,
        max_payload: int | None = None,
    ) -> None:
        self.broker = parse_url(url if url is not None else settings.MQTT_URL)
        filters = [t.strip() for t in (topics if topics is not None else settings.MQTT_TOPICS) if t.strip()]
        if not filters:
            raise ImproperlyConfigured("SHEQU_MQTT_TOPICS 为空")
        # Topics given by the caller are all it wants; the settings' drone topics come with the settings'.
        if drone_topics is None:
            drone_topics = getattr(settings, "DRONE_MQTT_TOPICS", []) if topics is None else []
        drones = [drone_route(f.strip()) for f in drone_topics if f.strip()]
        self.routes = [route_for(f) for f in filters] + drones
        self.group = group if group is not None else getattr(settings, "MQTT_SHARED_GROUP", "shequ")
        self.protocol = protocol or getattr(settings, "MQTT_PROTOCOL", "5")
        self.client_id = client_id or f"shequ-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.max_payload = max_payload or ingest.max_payload_bytes()
        self.counters: Counter[str] = Counter()
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self._stopping = threading.Event()
        self._client: paho.Client | None = None
        self._thread: threading.Thread | None = None
        self._fallback = False

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="mqtt-consumer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        client = self._client
        if client is not None:
            client.disconnect()
        if self._thread is not None:
            self._thread.join(timeout)
        log.info("MQTT 消费者已停止; 计数 %s", dict(self.counters))

    def run(self) -> None:
        """Blocks until `stop`; reconnects by itself (1 s, 2 s, 4 s ... up to 60 s between tries)."""
        while not self._stopping.is_set():
            self._fallback = False
            client = self._make_client()
            self._client = client
            try:
                client.connect_async(self.broker.host, self.broker.port, keepalive=30)
                client.loop_forever(retry_first_connection=True)
            except Exception:
                log.exception("MQTT 客户端异常, 5 秒后重建")
                self._stopping.wait(5)
            finally:
                self.connected.clear()
                self.subscribed.clear()
                close_old_connections()
            if self._fallback and not self._stopping.is_set():
                log.warning("MQTT 代理不支持 MQTT 5: 改用 3.1.1, 不使用共享订阅(每个消费者都会收到全部消息)")
                self.protocol = "3.1.1"

    def _make_client(self) -> paho.Client:
        v5 = self.protocol == "5"
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311,
            manual_ack=True,
        )
        if self.broker.username:
            client.username_pw_set(self.broker.username, self.broker.password)
        if self.broker.tls:
            client.tls_set()
        client.reconnect_delay_set(min_delay=1, max_delay=60)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        return client

    # --- paho callbacks (in the network loop's thread) -----------------------------------------------

    def subscriptions(self) -> list[str]:
        shared = self.protocol == "5" and self.group
        return [f"$share/{self.group}/{r.filter}" if shared else r.filter for r in self.routes]

    def _on_connect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if reason.is_failure:
            # 132 (v5) / 1 (v3): the broker does not speak this protocol version.
            if self.protocol == "5" and reason.value in (1, 132):
                self._fallback = True
                client.disconnect()
                return
            log.warning("MQTT 连接被拒绝: %s", reason)
            return
        self.connected.set()
        client.subscribe([(topic, 1) for topic in self.subscriptions()])
        log.info(
            "MQTT 已连接 %s:%s, 订阅 %s", self.broker.host, self.broker.port, ", ".join(self.subscriptions())
        )

    def _on_subscribe(
        self, client: paho.Client, userdata: Any, mid: int, reasons: Any, properties: Any
    ) -> None:
        refused = [r for r in reasons if r.is_failure]
        if refused:
            log.error("MQTT 订阅被拒绝: %s", refused)
        self.subscribed.set()

    def _on_disconnect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        self.connected.clear()
        self.subscribed.clear()
        if not self._stopping.is_set() and not self._fallback:
            log.warning("MQTT 连接断开 (%s), 将重连", reason)

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        try:
            self.handle(message.topic, bytes(message.payload))
        finally:
            if message.qos > 0:
                client.ack(message.mid, message.qos)

    # --- one message ------------------------------------------------------------------------------

    def route(self, topic: str) -> Route | None:
        return next((r for r in self.routes if paho.topic_matches_sub(r.filter, topic)), None)

    def handle(self, topic: str, payload: bytes) -> str:
        """Handle one message; returns and counts its outcome. Never raises."""
        close_old_connections()
        try:
            outcome = self._handle(topic, payload)
        except DomainError as exc:
            outcome = getattr(exc, "reason", None) or (
                "bad_snapshot" if exc.field == "snapshot_base64" else "invalid"
            )
            self._reject(outcome, topic, exc.message)
        except Exception as exc:
            outcome = "error"
            log.exception(
                "MQTT 消息处理出错 topic=%s (%s); 计数 %s", topic, repr(exc)[:200], dict(self.counters)
            )
        finally:
            close_old_connections()
        self.counters[outcome] += 1
        return outcome

    def _handle(self, topic: str, payload: bytes) -> str:
        route = self.route(topic)
        if route is None:
            raise ingest.MalformedEvent("没有与该主题对应的订阅", reason="unknown_topic")
        if len(payload) > self.max_payload:
            raise ingest.MalformedEvent(
                f"消息过大: {len(payload)} 字节(最多 {self.max_payload})", reason="too_large"
            )
        data = ingest.parse_json(payload)
        if route.kind == "drone_telemetry":
            from shequ.drones.telemetry import ingest_mqtt

            return ingest_mqtt(topic.split("/")[route.camera_level or 0], data)
        if route.kind == "frigate_events":
            result = ingest.ingest_frigate_event(data)
        elif route.kind == "frigate_reviews":
            result = ingest.ingest_frigate_review(data)
        else:
            event = ingest.parse_event(data)
            camera = None
            if route.camera_level is not None:
                code = topic.split("/")[route.camera_level]
                camera = ingest.find_camera(code)
            result = ingest.ingest_event(event, origin=AlertOrigin.MQTT, camera=camera)
        if result is None:
            return "ignored"
        alert, created = result
        log.info("MQTT 告警 %s (%s) topic=%s", alert.pk, "新" if created else "重复", topic)
        return "created" if created else "repeat"

    def _reject(self, reason: str, topic: str, message: str) -> None:
        counts = dict(self.counters)
        counts[reason] = counts.get(reason, 0) + 1
        log.warning("MQTT 消息被拒绝 (%s) topic=%s: %s; 计数 %s", reason, topic, message, counts)
