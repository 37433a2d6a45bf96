"""shequ_vision.telemetry: the JSON sample body and the MAVLink receiver, over a real UDP socket with
messages encoded by pymavlink (MAVLink 1 and 2)."""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pymavlink.dialects.v10 import ardupilotmega as mav1
from pymavlink.dialects.v20 import common as mav2

from shequ_vision.telemetry import (
    MavlinkReceiver,
    TelemetryError,
    TelemetrySample,
    parse_json_sample,
    parse_json_samples,
    parse_url,
)

NOW = dt.datetime(2026, 11, 29, 8, 0, tzinfo=dt.UTC)
ARMED = mav2.MAV_MODE_FLAG_SAFETY_ARMED | mav2.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED


# --- JSON ----------------------------------------------------------------------------------------


def test_a_json_sample_reads_every_documented_field() -> None:
    sample = parse_json_sample(
        {
            "at": "2026-11-29T15:59:58.5+08:00",
            "lat": 36.505,
            "lon": 103.605,
            "alt": 60,
            "alt_msl": 1850.5,
            "heading": 271.5,
            "speed": 8,
            "battery": 77,
            "armed": True,
            "mode": "AUTO",
        },
        now=NOW,
    )
    assert sample == TelemetrySample(
        system_id=None,
        at=dt.datetime(2026, 11, 29, 7, 59, 58, 500000, tzinfo=dt.UTC),
        lon=103.605,
        lat=36.505,
        alt_m=60.0,
        alt_msl_m=1850.5,
        heading=271.5,
        speed_m_s=8.0,
        battery=77,
        armed=True,
        mode="AUTO",
    )
    minimal = parse_json_sample({"at": "2026-11-29T07:59:00Z", "lat": 1, "lon": 2}, now=NOW)
    assert (minimal.alt_m, minimal.armed, minimal.battery, minimal.mode) == (None, None, None, "")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"lat": 36.5, "lon": 103.6}, "at"),
        ({"at": "2026-11-29T07:59:00", "lat": 36.5, "lon": 103.6}, "at"),  # no offset
        ({"at": "yesterday", "lat": 36.5, "lon": 103.6}, "at"),
        ({"at": "2026-11-29T09:00:00Z", "lat": 36.5, "lon": 103.6}, "at"),  # an hour ahead
        ({"at": 1764400000, "lat": 36.5, "lon": 103.6}, "at"),
        ({"at": "0001-01-01T00:00:00+14:00", "lat": 36.5, "lon": 103.6}, "at"),
        ({"at": "1970-01-01T00:00:00Z", "lat": 36.5, "lon": 103.6}, "at"),
        ({"at": "2026-11-29T07:59:00Z", "lat": 91, "lon": 103.6}, "lat"),
        ({"at": "2026-11-29T07:59:00Z", "lat": "36.5", "lon": 103.6}, "lat"),
        ({"at": "2026-11-29T07:59:00Z", "lat": 36.5, "lon": float("nan")}, "lon"),
        ({"at": "2026-11-29T07:59:00Z", "lat": 36.5, "lon": 103.6, "alt": 1e9}, "alt"),
        ({"at": "2026-11-29T07:59:00Z", "lat": 36.5, "lon": 103.6, "battery": 101}, "battery"),
        ({"at": "2026-11-29T07:59:00Z", "lat": 36.5, "lon": 103.6, "armed": "yes"}, "armed"),
        ({"at": "2026-11-29T07:59:00Z", "lat": 36.5, "lon": 103.6, "heading": -1}, "heading"),
        ({"at": "2026-11-29T07:59:00Z", "lat": 36.5, "lon": 103.6, "speed": True}, "speed"),
        ({"at": "2026-11-29T07:59:00Z", "lat": 36.5, "lon": 103.6, "altitude": 5}, "altitude"),
    ],
)
def test_a_refused_json_sample_names_the_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(TelemetryError) as refused:
        parse_json_sample(body, now=NOW)
    assert [e["field"] for e in refused.value.errors] == [field]
    assert all(e["message"] for e in refused.value.errors)


def test_every_refused_field_is_listed_and_a_batch_names_the_item() -> None:
    with pytest.raises(TelemetryError) as refused:
        parse_json_sample({"at": "x", "lat": 100, "lon": None}, now=NOW)
    assert sorted(e["field"] for e in refused.value.errors) == ["at", "lat", "lon"]

    good = {"at": "2026-11-29T07:59:00Z", "lat": 36.5, "lon": 103.6}
    assert len(parse_json_samples([good, good | {"alt": 5}], now=NOW)) == 2
    with pytest.raises(TelemetryError) as refused:
        parse_json_samples([good, good | {"lat": -100}, "not an object"], now=NOW)
    assert [e["field"] for e in refused.value.errors] == ["1.lat", "2"]
    for hostile in ([], "text", 3, None, [good] * 1001):
        with pytest.raises(TelemetryError):
            parse_json_samples(hostile, now=NOW)


def test_udp_addresses() -> None:
    assert parse_url("udpin:0.0.0.0:14550") == ("0.0.0.0", 14550)  # noqa: S104
    assert parse_url("127.0.0.1:14551") == ("127.0.0.1", 14551)
    assert parse_url("udp:127.0.0.1:0") == ("127.0.0.1", 0)
    for bad in ("tcp:1.2.3.4:5760", "udpout:1.2.3.4:14550", "14550", "host:port", "h:70000", ""):
        with pytest.raises(ValueError, match="udpin"):
            parse_url(bad)


# --- MAVLink over UDP ----------------------------------------------------------------------------


class Autopilot:
    """Encodes what an autopilot sends, with pymavlink, as separate datagrams."""

    def __init__(self, system: int, dialect: Any = mav2, component: int = 1) -> None:
        self.mav = dialect.MAVLink(None, srcSystem=system, srcComponent=component)
        self.dialect = dialect

    def heartbeat(self, armed: bool, *, autopilot: int = mav2.MAV_AUTOPILOT_ARDUPILOTMEGA) -> bytes:
        base = ARMED if armed else mav2.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED
        return bytes(self.mav.heartbeat_encode(mav2.MAV_TYPE_QUADROTOR, autopilot, base, 3, 4).pack(self.mav))

    def position(
        self, boot_ms: int, lon: float, lat: float, rel_alt: float, hdg: float | None = 90.0
    ) -> bytes:
        msg = self.mav.global_position_int_encode(
            boot_ms,
            round(lat * 1e7),
            round(lon * 1e7),
            round((1800 + rel_alt) * 1000),
            round(rel_alt * 1000),
            300,
            400,
            0,
            65535 if hdg is None else round(hdg * 100),
        )
        return bytes(msg.pack(self.mav))

    def sys_status(self, battery: int) -> bytes:
        msg = self.mav.sys_status_encode(0, 0, 0, 500, 16000, -1, battery, 0, 0, 0, 0, 0, 0)
        return bytes(msg.pack(self.mav))

    def vfr_hud(self, groundspeed: float) -> bytes:
        return bytes(self.mav.vfr_hud_encode(groundspeed, groundspeed, 90, 50, 60.0, 0.0).pack(self.mav))

    def system_time(self, unix: float, boot_ms: int) -> bytes:
        return bytes(self.mav.system_time_encode(round(unix * 1e6), boot_ms).pack(self.mav))


@pytest.fixture
def receiver() -> Iterator[MavlinkReceiver]:
    with MavlinkReceiver("udpin:127.0.0.1:0", poll_s=0.05) as rx:
        yield rx


def send(receiver: MavlinkReceiver, *datagrams: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for data in datagrams:
            sock.sendto(data, receiver.address)


def take(receiver: MavlinkReceiver, count: int, timeout: float = 5.0) -> list[Any]:
    samples: list[Any] = []
    deadline = time.monotonic() + timeout
    batches = receiver.batches(0.05)
    while len(samples) < count and time.monotonic() < deadline:
        samples.extend(next(batches))
    return samples


@pytest.mark.parametrize("dialect", [mav1, mav2], ids=["mavlink1", "mavlink2"])
def test_a_position_is_merged_with_the_latest_heartbeat_battery_and_speed(
    receiver: MavlinkReceiver, dialect: Any
) -> None:
    drone = Autopilot(7, dialect)
    before = dt.datetime.now(dt.UTC)
    send(
        receiver,
        drone.heartbeat(armed=True),
        drone.sys_status(81),
        drone.vfr_hud(7.5),
        drone.position(1000, 103.605, 36.505, 52.25, hdg=271.5),
    )
    [sample] = take(receiver, 1)
    assert sample.system_id == 7
    assert (sample.lon, sample.lat) == pytest.approx((103.605, 36.505), abs=1e-7)
    assert sample.alt_m == pytest.approx(52.25)
    assert sample.alt_msl_m == pytest.approx(1852.25)
    assert sample.heading == pytest.approx(271.5)
    assert sample.speed_m_s == pytest.approx(7.5)  # VFR_HUD's ground speed
    assert (sample.battery, sample.armed) == (81, True)
    assert sample.mode  # ArduCopter's name for custom mode 3 ("AUTO")
    # No SYSTEM_TIME yet: the receive clock.
    assert before <= sample.at <= dt.datetime.now(dt.UTC)
    assert sample.at.tzinfo is dt.UTC


def test_the_autopilot_clock_dates_samples_so_a_replay_keeps_its_times(receiver: MavlinkReceiver) -> None:
    drone = Autopilot(3)
    boot = time.time() - 3600  # the log was recorded an hour ago
    stream = [
        drone.system_time(boot + 5.0, 5000),
        drone.position(6000, 103.6, 36.5, 10),
        drone.position(6100, 103.6001, 36.5, 10),
    ]
    send(receiver, *stream)
    first = take(receiver, 2)
    send(receiver, *stream)
    second = take(receiver, 2)
    assert [s.at for s in first] == [s.at for s in second]
    assert first[0].at == pytest.approx(
        dt.datetime.fromtimestamp(boot + 6.0, dt.UTC), abs=dt.timedelta(milliseconds=1)
    )
    assert (first[1].at - first[0].at) == dt.timedelta(milliseconds=100)
    # Without a VFR_HUD the speed comes from the position's own velocity (3, 4 m/s: vx, vy are cm/s).
    assert first[0].speed_m_s == pytest.approx(5.0)
    # A clock set far ahead of ours is not believed.
    send(receiver, drone.system_time(time.time() + 86400, 1000), drone.position(2000, 103.6, 36.5, 10))
    [ahead] = take(receiver, 1)
    assert abs((ahead.at - dt.datetime.now(dt.UTC)).total_seconds()) < 5


def test_garbage_is_counted_and_never_stops_the_receiver(receiver: MavlinkReceiver) -> None:
    drone = Autopilot(9)
    gimbal = Autopilot(9, component=154)
    send(
        receiver,
        b"\x00garbage that is no mavlink",
        bytes(range(256)),
        b"\xfe\x09\x00\x09\x01\x00short",  # a MAVLink 1 header and a truncated body
        b"\xfd" + b"\xff" * 40,  # a MAVLink 2 start byte and nonsense
        drone.heartbeat(armed=True),
        gimbal.heartbeat(armed=False, autopilot=mav2.MAV_AUTOPILOT_INVALID),  # must not disarm
        drone.position(100, 0.0, 0.0, 0),  # no GPS fix yet
        drone.position(200, 103.6, 36.5, 30, hdg=None),
    )
    [sample] = take(receiver, 1)
    assert sample.armed is True
    assert sample.heading is None
    counts = receiver.counters
    assert counts["malformed"] >= 4
    assert counts["no_fix"] == 1
    assert counts["samples"] == 1
    assert counts["datagrams"] == 8


def test_stop_ends_the_receiving_thread_promptly(receiver: MavlinkReceiver) -> None:
    got: list[Any] = []
    thread = threading.Thread(target=lambda: got.extend(receiver), daemon=True)
    thread.start()
    send(receiver, Autopilot(4).position(1, 103.6, 36.5, 20))
    deadline = time.monotonic() + 5
    while not got and time.monotonic() < deadline:
        time.sleep(0.01)
    receiver.stop()
    thread.join(2)
    assert not thread.is_alive()
    assert len(got) == 1
