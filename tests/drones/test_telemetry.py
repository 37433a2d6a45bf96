"""Telemetry end to end: a MAVLink stream replayed over a real UDP socket (encoded by pymavlink) opens
a flight, stores its track, moves the drone and lands the flight with its coverage; JSON telemetry
through the real MQTT broker (127.0.0.1:1883) does the same; garbage is counted and never stops a
receiver. `shequ drone telemetry` runs the UDP receiver until stopped.

The receivers run in threads of this process on the transactional test database (on in-memory
SQLite sharing the test's connection, as tests/video/test_mqtt.py does); the test waits on the
receivers' counters and reads the database only once they are stopped. A missing broker skips the
MQTT test on a developer's machine and fails it under CI (CI=1).
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pymavlink.dialects.v20 import common as mavlink
from shapely.geometry import shape

from shequ.core.geo import area_m2, offset
from shequ.drones.models import Drone, DroneStatus, Flight, FlightCoverage, FlightState, TrackPoint
from shequ.drones.services import fleet
from shequ.drones.telemetry import UdpService, main
from shequ.video.mqtt import MqttConsumer
from tests.e2e.conftest import audit_log_flushable  # noqa: F401
from tests.live.conftest import _close_server_connections, _share_in_memory_sqlite
from tests.video.test_mqtt import broker, publish  # noqa: F401  (fixtures)

START = (-83.7040, 41.5470)  # in grid1, 250 m west of grid2
ALT = 60.0
SYSTEM = 5
ARMED = mavlink.MAV_MODE_FLAG_SAFETY_ARMED | mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED


@pytest.fixture
def shared_db(audit_log_flushable: None) -> Iterator[None]:  # noqa: F811
    undo = _share_in_memory_sqlite()
    try:
        yield
    finally:
        undo()
        _close_server_connections()


@pytest.fixture
def mav_drone(shared_db: None, drone: Drone, system_user: Any) -> Drone:
    return fleet.update_drone(drone, actor=system_user, mavlink_system_id=SYSTEM)


class Autopilot:
    """What an ArduCopter sends on a patrol, each message a datagram (as over a telemetry link)."""

    def __init__(self, system: int) -> None:
        self.mav = mavlink.MAVLink(None, srcSystem=system, srcComponent=1)
        self.boot_ms = 0

    def pack(self, message: Any) -> bytes:
        return bytes(message.pack(self.mav))

    def heartbeat(self, armed: bool) -> bytes:
        base = ARMED if armed else mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED
        return self.pack(
            self.mav.heartbeat_encode(
                mavlink.MAV_TYPE_QUADROTOR, mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA, base, 3, 4
            )
        )

    def position(self, east_m: float, alt: float) -> bytes:
        self.boot_ms += 100  # 10 Hz
        lon, lat = offset(*START, east_m, 0.0)
        lat_e7, lon_e7, msl_mm, rel_mm = (
            round(lat * 1e7),
            round(lon * 1e7),
            round((190 + alt) * 1e3),
            round(alt * 1e3),
        )
        message = self.mav.global_position_int_encode(
            self.boot_ms, lat_e7, lon_e7, msl_mm, rel_mm, 1000, 0, 0, 9000
        )
        return self.pack(message)

    def battery(self, percent: int) -> bytes:
        return self.pack(self.mav.sys_status_encode(0, 0, 0, 500, 16000, -1, percent, 0, 0, 0, 0, 0, 0))

    def clock(self, unix: float) -> bytes:
        return self.pack(self.mav.system_time_encode(round(unix * 1e6), self.boot_ms))


def patrol_stream(length_m: int = 200) -> tuple[list[bytes], int]:
    """A patrol east along a line over grid1, with garbage, a position without GPS fix and another
    (unregistered) autopilot mixed in. Returns the datagrams and how many positions drone SYSTEM
    sent with a fix."""
    ap, stranger = Autopilot(SYSTEM), Autopilot(77)
    out = [ap.clock(time.time() - 1800), ap.heartbeat(False), ap.battery(98)]
    positions = 0
    for _ in range(3):  # on the ground, disarmed: no flight yet
        out.append(ap.position(0, 0))
        positions += 1
    out.append(ap.heartbeat(True))
    for k in range(11):  # climb
        out.append(ap.position(0, ALT * k / 10))
        positions += 1
    out.append(b"\x00\x01garbage, not mavlink")
    out.append(ap.pack(ap.mav.global_position_int_encode(1, 0, 0, 0, 0, 0, 0, 0, 0)))  # no fix
    for k in range(1, length_m + 1):
        if k % 50 == 0:
            out += [ap.heartbeat(True), ap.battery(98 - k // 50), bytes(range(200))]
        out.append(ap.position(k, ALT))
        positions += 1
    out.append(stranger.position(0, 30))
    for k in range(1, 11):  # descend
        out.append(ap.position(length_m, ALT * (10 - k) / 10))
        positions += 1
    out.append(ap.heartbeat(False))
    out.append(ap.position(length_m, 0))
    positions += 1
    return out, positions


def send(address: tuple[str, int], datagrams: list[bytes]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for i, data in enumerate(datagrams):
            sock.sendto(data, address)
            if i % 20 == 19:
                time.sleep(0.002)  # a real link's pace; the loopback buffer never overflows


def wait_until(condition: Callable[[], bool], what: Callable[[], Any], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out: {what()}"
        time.sleep(0.05)


def test_a_mavlink_stream_replayed_over_udp_flies_the_flight(mav_drone: Drone, grids: dict[str, Any]) -> None:
    datagrams, positions = patrol_stream()
    service = UdpService("udpin:127.0.0.1:0")
    service.start()
    try:
        send(service.address, datagrams)
        c = service.counters
        wait_until(
            lambda: (
                (c := service.counters).get("points", 0) + c.get("skipped", 0) >= positions
                and c.get("unknown_system", 0) >= 1
            ),
            lambda: service.counters,
        )
        first = service.counters
        # The same stream again (a replayed log): nothing new.
        send(service.address, datagrams)
        wait_until(
            lambda: service.counters.get("skipped", 0) + service.counters.get("points", 0) >= 2 * positions,
            lambda: service.counters,
        )
        c = service.counters
    finally:
        service.stop()

    assert first["flights_opened"] == 1 and first["flights_landed"] == 1
    assert first["malformed"] >= 1 + 4 and first["no_fix"] == 1 and first["unknown_system"] == 1
    assert c["flights_opened"] == 1 and c["points"] == first["points"]

    flight = Flight.objects.get()
    assert flight.state == FlightState.LANDED and flight.drone_id == mav_drone.pk
    track = list(TrackPoint.objects.filter(flight=flight).order_by("at"))
    assert len(track) == positions - 3  # all but the three before arming
    assert track[0].alt_m == 0 and max(p.alt_m or 0 for p in track) == pytest.approx(ALT)
    # In order: eastward along the line, 100 ms apart (the autopilot's clock).
    lons = [p.lon for p in track]
    assert lons == sorted(lons)
    assert all(b.at - a.at == dt.timedelta(milliseconds=100) for a, b in itertools.pairwise(track))
    assert track[-1].battery == 98 - 200 // 50
    assert flight.distance_m == pytest.approx(200, rel=0.01)

    mav_drone.refresh_from_db()
    assert mav_drone.status == DroneStatus.IDLE
    assert (mav_drone.lon, mav_drone.lat) == pytest.approx(offset(*START, 200, 0), abs=1e-6)
    assert mav_drone.battery == 94

    # Coverage: a 200 m line from 60 m: at least the swath 200 m × the footprint's width, at most
    # that plus a footprint; all of it in grid1.
    width, height = fleet.camera_of(mav_drone).ground_size(ALT)
    [cover] = FlightCoverage.objects.filter(flight=flight)
    assert cover.grid_id == grids["grid1"].pk
    assert 200 * width * 0.97 <= cover.covered_m2 <= (200 * width + width * height) * 1.03
    assert cover.share == pytest.approx(cover.covered_m2 / area_m2(shape(grids["grid1"].geometry)), rel=1e-3)
    assert shape(flight.coverage).is_valid


def test_json_telemetry_over_mqtt(
    shared_db: None,
    drone: Drone,
    grids: dict[str, Any],
    broker: str,  # noqa: F811
    publish: Callable[..., None],  # noqa: F811
) -> None:
    prefix = f"shequ-test-{time.monotonic_ns()}"
    topic = f"{prefix}/shequ/drones/UAV-01/telemetry"
    consumer = MqttConsumer(
        broker, [f"{prefix}/shequ/cameras/+/events"], drone_topics=[f"{prefix}/shequ/drones/+/telemetry"]
    )
    consumer.start()
    t0 = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=20)

    def body(i: int, east: float, alt: float, **extra: Any) -> dict[str, Any]:
        lon, lat = offset(*START, east, 0)
        at = (t0 + dt.timedelta(seconds=i)).isoformat()
        return {"at": at, "lat": lat, "lon": lon, "alt": alt, "heading": 90, "speed": 5, **extra}

    try:
        assert consumer.subscribed.wait(10), "the consumer did not subscribe"
        publish(topic, body(0, 0, 0.3, battery=99))  # on the ground: no flight
        publish(topic, [body(1 + k, 5 * k, 40) for k in range(30)])  # a batch: 150 m east at 40 m
        publish(topic, b"{not json")
        publish(topic, body(40, 150, 40, lat=123))
        publish(f"{prefix}/shequ/drones/UAV-404/telemetry", body(41, 150, 40))
        publish(topic, [body(41 + k, 150, 0.2, battery=90) for k in range(25)])  # landed, 25 s down
        deadline = time.monotonic() + 20
        while sum(consumer.counters.values()) < 6:
            assert time.monotonic() < deadline, dict(consumer.counters)
            time.sleep(0.05)
    finally:
        consumer.stop()

    assert dict(consumer.counters) == {"telemetry": 3, "bad_json": 1, "invalid": 1, "unknown_drone": 1}
    flight = Flight.objects.get()
    assert flight.state == FlightState.LANDED and flight.source == "telemetry"
    # The last airborne sample was at 30 s; it lands at 50 s, when LAND_AFTER (20 s) has passed.
    assert flight.track.count() == 30 + 10
    assert flight.distance_m == pytest.approx(150, rel=0.01)  # 145 m at 40 m, 5 m more to the landing
    [cover] = FlightCoverage.objects.filter(flight=flight)
    assert cover.grid_id == grids["grid1"].pk and cover.share > 0
    drone.refresh_from_db()
    assert drone.battery == 90 and drone.status == DroneStatus.IDLE


def test_the_telemetry_command_receives_until_stopped(mav_drone: Drone, grids: Any) -> None:
    out, err = io.StringIO(), io.StringIO()
    stop = threading.Event()
    result: list[int] = []
    thread = threading.Thread(
        target=lambda: result.append(main(["--udp", "127.0.0.1:0", "--every", "0.2"], out, err, stop=stop))
    )
    thread.start()
    try:
        wait_until(lambda: "UDP 127.0.0.1:" in out.getvalue(), out.getvalue, timeout=10)
        port = int(re.search(r"UDP 127\.0\.0\.1:(\d+)", out.getvalue()).group(1))  # type: ignore[union-attr]
        ap = Autopilot(SYSTEM)
        send(("127.0.0.1", port), [ap.heartbeat(True)] + [ap.position(k, 30) for k in range(20)] + [b"junk"])
        wait_until(lambda: "航迹点 20," in out.getvalue(), out.getvalue, timeout=10)
    finally:
        stop.set()
        thread.join(10)
    assert result == [0]
    assert "畸形 1" in out.getvalue() and "已停止" in out.getvalue()
    assert Flight.objects.get().state == FlightState.FLYING  # still airborne when the receiver stopped

    bad = io.StringIO()
    assert main(["--udp", "tcp:1.2.3.4:5760"], io.StringIO(), bad) == 2 and "udpin" in bad.getvalue()
    assert main(["--every", "0"], io.StringIO(), io.StringIO()) == 2
    assert main(["--bogus"], io.StringIO(), io.StringIO()) == 2


def test_the_consumer_reads_the_drone_topics_from_settings(settings: Any) -> None:
    settings.MQTT_TOPICS = ["shequ/cameras/+/events"]
    settings.DRONE_MQTT_TOPICS = ["fleet/+/telemetry"]
    consumer = MqttConsumer("mqtt://127.0.0.1:1883")
    assert [(r.filter, r.kind, r.camera_level) for r in consumer.routes] == [
        ("shequ/cameras/+/events", "generic", 2),
        ("fleet/+/telemetry", "drone_telemetry", 1),
    ]
    assert consumer.route("fleet/UAV-1/telemetry").kind == "drone_telemetry"  # type: ignore[union-attr]
    # Topics given explicitly are all the caller wants.
    assert len(MqttConsumer("mqtt://127.0.0.1:1883", ["a/+/events"]).routes) == 1
    settings.DRONE_MQTT_TOPICS = ["fleet/telemetry"]
    with pytest.raises(Exception, match=r"\+"):
        MqttConsumer("mqtt://127.0.0.1:1883")
