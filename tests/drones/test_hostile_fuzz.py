"""A sweep of hostile input over the drones API (issue 6 review): wrong types, NaN and Infinity,
5,000-digit numbers, NUL, huge lists and odd query parameters on every list, detail and write
endpoint; none may answer a 500."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

HUGE = "9" * 5000
WEIRD: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    10**30,
    1e308,
    -1e308,
    "NaN",
    "Infinity",
    "-Infinity",
    "1e999",
    HUGE,
    [],
    [1],
    {},
    {"a": 1},
    "",
    "\x00",
    "名\x00字",
    "x" * 5000,
    "12abc",
    1.5,
    "2026-13-45",
    "0",
]
RAW_BODIES = [
    b'{"lat": NaN, "lon": Infinity, "at": "2026-01-01T00:00:00Z", "alt": 10}',
    b'{"lat": 1e999, "lon": -1e999, "at": "2026-01-01T00:00:00Z", "alt": 10}',
    b'{"lat": ' + HUGE.encode() + b', "lon": 1, "at": "2026-01-01T00:00:00Z", "alt": 10}',
    b"[" * 5000 + b"]" * 5000,
    b'"\\u0000"',
    b"\xff\xfe",
    b"null",
    b"[]",
    b"{}",
]


def client(user: Any) -> APIClient:
    c = APIClient(raise_request_exception=False)
    c.force_login(user)
    return c


def check(r: Any, what: str, bad: list[str]) -> None:
    if r.status_code >= 500:
        bad.append(f"{what} -> {r.status_code}")


@pytest.fixture
def mission(admin_user: Any, grids: Any, drone: Any) -> Any:
    from shequ.drones.services import missions

    return missions.plan_mission(
        actor=admin_user, code="M-1", name="m", pattern="survey", altitude_m=60, grids=[grids["grid1"].code]
    )


def test_fuzz(admin_user: Any, drone: Any, dock: Any, mission: Any, grids: Any) -> None:
    c = client(admin_user)
    bad: list[str] = []
    base = "/api/drones/"
    gets = [
        "drones/",
        "docks/",
        "flights/",
        "missions/",
        "photos/",
        "findings/",
    ]
    params = [
        "page",
        "page_size",
        "limit",
        "offset",
        "status",
        "dock",
        "drone",
        "mission",
        "state",
        "date",
        "q",
        "grid",
        "pattern",
        "repeat",
        "flight",
        "photo",
        "since",
        "until",
        "kind",
        "firmware",
    ]
    vals = [
        "-1",
        "0",
        HUGE,
        "NaN",
        "1e308",
        "\x00",
        "名",
        "x" * 300,
        "2026-02-30",
        "9999-12-31",
        "0001-01-01",
        "[]",
        "true",
        "99999999999999999999",
    ]
    for g in gets:
        for p in params:
            for v in vals:
                r = c.get(base + g, {p: v})
                check(r, f"GET {g}?{p}={v[:20]!r}", bad)
    for tail in [
        "drones/%s/",
        "docks/%s/",
        "flights/%s/",
        "missions/%s/",
        "photos/%s/",
        "photos/%s/image/",
        "findings/%s/",
        "findings/%s/crop/",
        "missions/%s/plan",
        "missions/%s/waypoints",
    ]:
        for v in ["-1", "0", HUGE, "NaN", "%00", "名", "1.5", "1e3", "99999999999999999999"]:
            r = c.get(base + tail % v)
            check(r, f"GET {tail % v[:20]}", bad)
    r = c.get(base + f"missions/{mission.pk}/plan", {"firmware": "\x00"})
    check(r, "plan fw", bad)
    # JSON writes with weird values in every field
    forms = {
        "drones/": [
            "code",
            "name",
            "model",
            "serial",
            "dock",
            "mavlink_system_id",
            "sensor_width_mm",
            "sensor_height_mm",
            "focal_length_mm",
            "image_width",
            "image_height",
            "max_flight_minutes",
            "cruise_speed_m_s",
            "status",
            "is_active",
        ],
        "docks/": ["code", "name", "lon", "lat", "elevation_m", "range_m", "grids", "is_active"],
        "missions/": [
            "code",
            "name",
            "pattern",
            "grids",
            "altitude_m",
            "front_overlap",
            "side_overlap",
            "angle_deg",
            "speed_m_s",
            "drone",
            "dock",
            "waypoints",
        ],
        "missions/preview/": [
            "pattern",
            "grids",
            "altitude_m",
            "front_overlap",
            "side_overlap",
            "angle_deg",
            "speed_m_s",
            "waypoints",
        ],
        "flights/": ["drone", "mission", "source_id"],
        f"drones/{drone.code}/": [
            "name",
            "dock",
            "sensor_width_mm",
            "focal_length_mm",
            "image_width",
            "image_height",
            "max_flight_minutes",
            "cruise_speed_m_s",
            "status",
            "mavlink_system_id",
        ],
        f"docks/{dock.code}/": ["lon", "lat", "elevation_m", "range_m", "grids"],
        f"missions/{mission.pk}/": [
            "altitude_m",
            "front_overlap",
            "side_overlap",
            "angle_deg",
            "speed_m_s",
            "waypoints",
            "grids",
            "pattern",
            "drone",
            "dock",
        ],
        f"missions/{mission.pk}/schedule/": ["repeat", "time", "weekdays"],
    }
    good = {
        "drones/": {
            "code": "D-9",
            "name": "n",
            "sensor_width_mm": 6.17,
            "sensor_height_mm": 4.55,
            "focal_length_mm": 3.61,
            "image_width": 4000,
            "image_height": 3000,
        },
        "docks/": {"code": "K-9", "name": "n", "lon": -83.7, "lat": 41.55},
        "missions/": {
            "code": "M-9",
            "name": "n",
            "pattern": "survey",
            "altitude_m": 60,
            "grids": [grids["grid1"].code],
        },
        "missions/preview/": {"pattern": "survey", "altitude_m": 60, "grids": [grids["grid1"].code]},
        "flights/": {"drone": drone.code},
        f"missions/{mission.pk}/schedule/": {"repeat": "weekly", "time": "09:30", "weekdays": [1]},
    }
    for url, fields in forms.items():
        method = c.patch if url.count("/") > 2 and "schedule" not in url and "preview" not in url else c.post
        if "schedule" in url:
            method = c.put
        for f in fields:
            for v in [
                *WEIRD,
                [[-83.7, 41.55], [1e308, 1e308]],
                [[-83.7, 41.55, 1e308]] * 3,
                [[0, 0], [180, 0]],
                [[-83.7, 41.55]] * 4000,
                [[-83.7, 41.55], [-83.7, 41.55]],
            ]:
                body = dict(good.get(url, {}))
                body[f] = v
                r = method(base + url, body, format="json")
                check(r, f"{method.__name__.upper()} {url} {f}={str(v)[:30]}", bad)
    for raw in RAW_BODIES:
        for url in [
            f"drones/{drone.code}/telemetry/",
            "missions/",
            "missions/import/",
            "flights/",
            "missions/preview/",
        ]:
            r = c.post(base + url, raw, content_type="application/json")
            check(r, f"POST raw {url} {raw[:30]!r}", bad)
    assert not bad, "\n".join(bad[:80])
