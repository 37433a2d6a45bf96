"""The MQTT consumer against the real broker (Mosquitto at 127.0.0.1:1883): generic and Frigate
messages become alerts and cases; malformed ones are counted and never stop it; consumers of one
group split the messages; it reconnects when its broker comes back.

Where the broker cannot be reached the tests skip with the reason, except under CI (CI=1), where
they fail. Each test uses topics under a prefix of its own, so runs and tests never cross-talk.
The consumer runs in a thread of this process on the transactional test database (on in-memory
SQLite it shares the test's connection, as the live-server tests do: tests/live/conftest.py).
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from django.utils import timezone
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from PIL import Image

from shequ.accounts.models import Role
from shequ.cases.models import Case, Source
from shequ.video.models import Alert, AlertKind, AlertOrigin, AlertState
from shequ.video.mqtt import MqttConsumer, parse_url, route_for
from tests.cases.conftest import IN_GRID11, case_media  # noqa: F401
from tests.e2e.conftest import audit_log_flushable  # noqa: F401
from tests.live.conftest import _close_server_connections, _share_in_memory_sqlite

BROKER = ("127.0.0.1", 1883)
START = float(int(time.time()) - 3600)  # a Frigate start_time: epoch seconds, an hour ago
WHEN = (timezone.now() - dt.timedelta(minutes=10)).isoformat()


def _missing(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def broker() -> str:
    try:
        socket.create_connection(BROKER, timeout=2).close()
    except OSError as exc:
        _missing(f"MQTT broker at {BROKER[0]}:{BROKER[1]} unreachable ({exc}): apt-get install mosquitto")
    return f"mqtt://{BROKER[0]}:{BROKER[1]}"


@pytest.fixture
def shared_db(audit_log_flushable: None) -> Iterator[None]:  # noqa: F811
    undo = _share_in_memory_sqlite()
    try:
        yield
    finally:
        undo()
        _close_server_connections()


@pytest.fixture
def prefix() -> str:
    return f"shequ-test-{uuid.uuid4().hex[:10]}"


def topics(prefix: str) -> list[str]:
    return [f"{prefix}/shequ/cameras/+/events", f"{prefix}/frigate/events", f"{prefix}/frigate/reviews"]


@pytest.fixture
def camera(shared_db: None, system_user: Any, two_communities: dict[str, Any]) -> Any:
    from importlib import import_module

    from django.apps import apps

    from shequ.cases.models import Category
    from shequ.video.services import register_camera

    # A transactional test before may have flushed the categories of migration cases/0002; the
    # cases made here take their category from them.
    if not Category.objects.exists():
        import_module("shequ.cases.migrations.0002_default_categories").create_defaults(apps, None)

    return register_camera(
        actor=system_user, code="front_door", name="前门", lon=IN_GRID11[0], lat=IN_GRID11[1]
    )


@pytest.fixture
def run_consumer(broker: str) -> Iterator[Callable[..., MqttConsumer]]:
    started: list[MqttConsumer] = []

    def run(prefix: str, **kwargs: Any) -> MqttConsumer:
        consumer = kwargs.pop("cls", MqttConsumer)(kwargs.pop("url", broker), topics(prefix), **kwargs)
        consumer.start()
        started.append(consumer)
        assert consumer.subscribed.wait(10), "the consumer did not subscribe"
        return consumer

    yield run
    for consumer in started:
        consumer.stop()


@pytest.fixture
def publish(broker: str) -> Iterator[Callable[..., None]]:
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
    client.connect(*BROKER)
    client.loop_start()

    def send(topic: str, payload: Any) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        client.publish(topic, data, qos=1).wait_for_publish(10)

    yield send
    client.loop_stop()
    client.disconnect()


def wait_for(consumer: MqttConsumer, total: int, timeout: float = 20.0) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while sum(consumer.counters.values()) < total:
        assert time.monotonic() < deadline, f"only {dict(consumer.counters)} of {total} messages handled"
        time.sleep(0.05)
    return dict(consumer.counters)


def jpeg_b64() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 80, 40)).save(buffer, "JPEG")
    return base64.b64encode(buffer.getvalue()).decode()


def frigate_event(kind: str, event_id: str, *, zones: list[str], **after: Any) -> dict[str, Any]:
    obj = {
        "id": event_id,
        "camera": "front_door",
        "frame_time": START + 5,
        "label": "person",
        "sub_label": None,
        "top_score": 0.82,
        "score": 0.79,
        "box": [192, 108, 384, 432],
        "area": 61440,
        "region": [0, 0, 640, 640],
        "current_zones": zones,
        "entered_zones": zones,
        "start_time": START,
        "end_time": None,
        "stationary": False,
        "false_positive": False,
        "has_snapshot": True,
        "has_clip": True,
    }
    obj.update(after)
    return {"type": kind, "before": dict(obj, entered_zones=[]), "after": obj}


def review(kind: str, review_id: str, severity: str, detections: list[str]) -> dict[str, Any]:
    item = {
        "id": review_id,
        "camera": "front_door",
        "start_time": START,
        "end_time": None,
        "severity": severity,
        "thumb_path": "/media/frigate/clips/review/thumb.webp",
        "data": {
            "detections": detections,
            "objects": ["person"],
            "sub_labels": [],
            "zones": ["porch"],
            "audio": [],
        },
    }
    return {"type": kind, "before": item, "after": item}


# --- configuration ----------------------------------------------------------------------------


def test_broker_urls_and_topic_routes() -> None:
    broker = parse_url("mqtt://cam%40gw:s3cr%2Ft@10.0.0.5")
    assert (broker.host, broker.port, broker.username, broker.password, broker.tls) == (
        "10.0.0.5",
        1883,
        "cam@gw",
        "s3cr/t",
        False,
    )
    assert parse_url("mqtts://broker.example:8884").tls
    with pytest.raises(Exception, match="SHEQU_MQTT_URL"):
        parse_url("http://broker")
    assert route_for("shequ/cameras/+/events").camera_level == 2
    assert route_for("frigate/events").kind == "frigate_events"
    assert route_for("site1/frigate/reviews").kind == "frigate_reviews"
    assert route_for("nvr/alarms").kind == "generic"
    consumer = MqttConsumer("mqtt://127.0.0.1", ["a/+/events"], group="g1")
    assert consumer.subscriptions() == ["$share/g1/a/+/events"]
    assert MqttConsumer("mqtt://127.0.0.1", ["a/+/events"], protocol="3.1.1").subscriptions() == [
        "a/+/events"
    ]


# --- the real broker --------------------------------------------------------------------------


def test_generic_messages_become_alerts_and_cases(
    camera: Any, prefix: str, run_consumer: Callable[..., MqttConsumer], publish: Callable[..., None]
) -> None:
    consumer = run_consumer(prefix)
    event = {
        "event_id": "gw-17",
        "kind": "debris",
        "label": "垃圾",
        "score": 0.74,
        "detected_at": WHEN,
        "box": [0.1, 0.5, 0.3, 0.9],
        "zone": "人行道",
        "auto_case": True,
        "snapshot_base64": jpeg_b64(),
    }
    topic = f"{prefix}/shequ/cameras/front_door/events"
    publish(topic, event)
    publish(topic, event)  # delivered twice: one alert
    assert wait_for(consumer, 2) == {"created": 1, "repeat": 1}

    alert = Alert.objects.get()
    assert (alert.origin, alert.source_id, alert.kind) == (
        AlertOrigin.MQTT,
        "front_door:gw-17",
        AlertKind.DEBRIS,
    )
    assert alert.camera == camera and alert.snapshot and alert.box == [0.1, 0.5, 0.3, 0.9]
    assert alert.state == AlertState.FILED
    case = Case.objects.get(pk=alert.case_id)
    assert case.source == Source.CAMERA and case.category is not None


def test_frigate_events_and_reviews_make_one_alert_per_object(
    camera: Any,
    prefix: str,
    run_consumer: Callable[..., MqttConsumer],
    publish: Callable[..., None],
    make_user: Any,
    two_communities: dict[str, Any],
) -> None:
    consumer = run_consumer(prefix)
    events, reviews = f"{prefix}/frigate/events", f"{prefix}/frigate/reviews"
    publish(events, frigate_event("new", "1764400000.1-abc", zones=[]))  # not in a zone yet
    publish(events, frigate_event("update", "1764400000.1-abc", zones=["porch"], frame_shape=[720, 1280]))
    publish(events, frigate_event("end", "1764400000.1-abc", zones=["porch"], end_time=START + 30))
    publish(reviews, review("new", "r-1", "detection", ["1764400000.1-abc"]))  # a lesser finding
    publish(reviews, review("update", "r-1", "alert", ["1764400000.1-abc"]))  # the same object
    publish(reviews, review("new", "r-2", "alert", ["1764400099.9-xyz"]))  # a new one, review first
    publish(events, frigate_event("update", "1764400099.9-xyz", zones=["porch"]))
    assert wait_for(consumer, 7) == {"ignored": 2, "created": 2, "repeat": 3}

    first, second = Alert.objects.order_by("pk")
    assert (first.origin, first.source_id) == (AlertOrigin.FRIGATE, "front_door:event:1764400000.1-abc")
    assert first.kind == AlertKind.EXTERNAL and first.label == "person" and first.zone_name == "porch"
    assert first.confidence == pytest.approx(0.82)
    assert first.detected_at.timestamp() == START
    assert first.box == pytest.approx([0.15, 0.15, 0.3, 0.6])  # pixels of the 1280x720 detect stream
    assert second.source_id == "front_door:event:1764400099.9-xyz" and second.box == []  # no frame size

    # The operator confirms the Frigate alert: a case from the camera, like any other alert.
    from shequ.video.services import confirm_alert

    operator = make_user(Role.COMMAND_OPERATOR, grids=(two_communities["street"],))
    case = confirm_alert(first, actor=operator)
    assert case.source == Source.CAMERA
    first.refresh_from_db()
    assert first.state == AlertState.CONFIRMED and first.case_id == case.pk


class Serialized(MqttConsumer):
    """Two consumers in one process share one SQLite connection in the test: one message at a time."""

    lock = threading.Lock()

    def handle(self, topic: str, payload: bytes) -> str:
        with self.lock:
            return super().handle(topic, payload)


def test_malformed_messages_are_counted_and_the_consumer_goes_on(
    camera: Any, prefix: str, run_consumer: Callable[..., MqttConsumer], publish: Callable[..., None]
) -> None:
    consumer = run_consumer(prefix, max_payload=64 * 1024)
    topic = f"{prefix}/shequ/cameras/front_door/events"
    good = {"event_id": "ok-1", "detected_at": WHEN}
    publish(topic, b"{not json")
    publish(topic, b"\xff\xfe\x00binary")
    publish(topic, [good])  # an array, not an object
    publish(topic, {**good, "score": "high", "box": [2, 0, 1, 1]})
    publish(topic, {**good, "camera": "back_door"})  # the topic says front_door
    publish(f"{prefix}/shequ/cameras/no_such_camera/events", good)
    publish(topic, {**good, "snapshot_base64": base64.b64encode(b"GIF89a not a jpeg").decode()})
    publish(topic, json.dumps({**good, "vendor_data": {"pad": "x" * 100_000}}).encode())
    publish(f"{prefix}/frigate/events", {"type": "new", "after": {"id": 5, "camera": ["x"]}})
    publish(
        f"{prefix}/frigate/reviews",
        {"type": "new", "after": {"id": "r", "camera": "nowhere", "start_time": START, "severity": "alert"}},
    )
    publish(topic, good)  # and a good one after all that
    counts = wait_for(consumer, 11)
    assert counts == {
        "bad_json": 2,
        "invalid": 3,
        "camera_mismatch": 1,
        "unknown_camera": 2,
        "bad_snapshot": 1,
        "too_large": 1,
        "created": 1,
    }
    assert consumer.connected.is_set()
    assert Alert.objects.get().source_id == "front_door:ok-1"


def test_consumers_of_one_group_split_the_messages(
    camera: Any, prefix: str, run_consumer: Callable[..., MqttConsumer], publish: Callable[..., None]
) -> None:
    one = run_consumer(prefix, group=f"g-{prefix}", cls=Serialized)
    two = run_consumer(prefix, group=f"g-{prefix}", cls=Serialized)
    topic = f"{prefix}/shequ/cameras/front_door/events"
    for i in range(10):
        publish(topic, {"event_id": f"split-{i}", "detected_at": WHEN})
    deadline = time.monotonic() + 20
    while one.counters["created"] + two.counters["created"] < 10:
        assert time.monotonic() < deadline, (dict(one.counters), dict(two.counters))
        time.sleep(0.05)
    time.sleep(0.3)  # nothing more arrives: each message went to one consumer only
    assert one.counters["created"] + two.counters["created"] == 10
    assert one.counters["created"] > 0 and two.counters["created"] > 0
    assert Alert.objects.count() == 10


def test_mqtt_311_without_shared_subscriptions(
    camera: Any, prefix: str, run_consumer: Callable[..., MqttConsumer], publish: Callable[..., None]
) -> None:
    consumer = run_consumer(prefix, protocol="3.1.1")
    publish(f"{prefix}/shequ/cameras/front_door/events", {"event_id": "v3", "detected_at": WHEN[:19]})
    assert wait_for(consumer, 1) == {"created": 1}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _mosquitto(port: int, workdir: Path) -> subprocess.Popen[bytes]:
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    process = subprocess.Popen(  # noqa: S603 - the system's mosquitto and a config of our own
        [binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            assert process.poll() is None and time.monotonic() < deadline, "mosquitto did not start"
            time.sleep(0.05)


def test_reconnects_when_the_broker_comes_back(
    camera: Any, prefix: str, run_consumer: Callable[..., MqttConsumer], tmp_path: Path
) -> None:
    """A broker of this test's own (the system one is not ours to stop) goes away and comes back."""
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        _missing("the mosquitto binary is missing: apt-get install mosquitto")
    port = _free_port()
    process = _mosquitto(port, tmp_path)
    try:
        consumer = run_consumer(prefix, url=f"mqtt://127.0.0.1:{port}")
        process.terminate()
        process.wait(10)
        deadline = time.monotonic() + 10
        while consumer.connected.is_set():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(1.5)  # a failed reconnect or two while the broker is down
        process = _mosquitto(port, tmp_path)
        assert consumer.subscribed.wait(30), "the consumer did not reconnect"
        client = paho.Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
        client.connect("127.0.0.1", port)
        client.loop_start()
        body = {"event_id": "after-outage", "detected_at": WHEN}
        client.publish(f"{prefix}/shequ/cameras/front_door/events", json.dumps(body), qos=1).wait_for_publish(
            10
        )
        client.loop_stop()
        client.disconnect()
        assert wait_for(consumer, 1) == {"created": 1}
    finally:
        process.terminate()
        process.wait(10)
