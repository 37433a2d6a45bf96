"""The demo's cameras (摄像头): one video camera record per camera asset (部件 0121), named and placed
like it, with a status (mostly online, a few offline or degraded), and a handful of alerts with
drawn snapshots so that the alert queue and the wall have something to show.

No real stream exists behind a demo camera: `watched` stays off, so no vision worker opens them;
the stream addresses are private ones of the kind a real network uses. The frames are drawn here
with PIL (a street from a pole-mounted camera: road, kerb, buildings, and the object of the alert,
with its zone and box), never fetched.

Cameras are written in bulk, as the demo's registers are (community.py): each row's fields pass
`video.services.cameras.check_fields`, the register's own checks, and the grid is the asset's (the
grid index gives the same). Alerts, analytics settings and latest frames go through the services
(`raise_alert`, `set_analytics`, `store_latest_snapshot`), a few dozen calls.
"""

from __future__ import annotations

import datetime as dt
import io
import random
from collections import Counter
from collections.abc import Sequence
from typing import Any

from PIL import Image, ImageDraw

from shequ.core.audit import audit
from shequ.demo import figures
from shequ.registry.models import Asset
from shequ.video import services
from shequ.video.models import AlertKind, AlertOrigin, Camera, CameraStatus, Vendor
from shequ.video.services.cameras import check_fields

STATUS_RATES = ((CameraStatus.ONLINE, 95.0), (CameraStatus.DEGRADED, 2.0), (CameraStatus.OFFLINE, 3.0))
VENDOR_RATES = ((Vendor.HIKVISION, 55.0), (Vendor.DAHUA, 30.0), (Vendor.UNIVIEW, 10.0), (Vendor.HUAWEI, 5.0))
ERRORS = {
    CameraStatus.OFFLINE: "RTSP 连接超时 (10 秒无响应)",
    CameraStatus.DEGRADED: "帧率过低: 实际 0.3 帧/秒, 设定 1 帧/秒",
}
# The alerts of the demo: kind, zone name, label, what the description says.
ALERTS: tuple[tuple[str, str, str, str], ...] = (
    ("parking", "消防通道", "car", "违章停车 12 分钟"),
    ("vending", "人行道", "person", "占道经营 25 分钟"),
    ("crowd", "广场入口", "person", "人员聚集 7 人, 3 分钟"),
    ("debris", "绿化带", "", "垃圾堆放 40 分钟"),
    ("intrusion", "施工围挡区", "person", "夜间区域入侵"),
    ("parking", "公交站台", "truck", "违章停车 8 分钟"),
    ("crowd", "学校门口", "person", "人员聚集 9 人, 2 分钟"),
    ("debris", "路口转角", "", "垃圾堆放 15 分钟"),
)
WITH_FRAMES = 24  # cameras (the first by code, and every alert's) that get a drawn latest frame
W, H = 640, 360
BATCH = 2000
Box = tuple[float, float, float, float]


def write_cameras(*, seed: int, reference: dt.datetime, actor: str) -> Counter[str]:
    """Cameras for the demo's camera assets, then the demo alerts and frames (counts returned)."""
    rng = random.Random(f"{seed}:cameras")
    assets = list(
        Asset.objects.filter(category__code=figures.CAMERA_CATEGORY)
        .order_by("code")
        .values("id", "code", "name", "address", "lon", "lat", "grid_id")
    )
    rows = []
    for n, a in enumerate(assets):
        host = f"10.{62 + n // 65536 % 100}.{n // 256 % 256}.{n % 256}"
        fields = check_fields(
            {
                "code": a["code"],
                "name": a["name"],
                "lon": a["lon"],
                "lat": a["lat"],
                "address": a["address"][:200],
                "vendor": _weighted(rng, VENDOR_RATES),
                "protocol": "rtsp",
                "main_stream": f"rtsp://{host}:554/Streaming/Channels/101",
                "sub_stream": f"rtsp://{host}:554/Streaming/Channels/102",
                "watched": False,
                "source": "demo",
                "source_id": a["code"],
            },
            partial=False,
        )
        status = _weighted(rng, STATUS_RATES)
        since = reference - dt.timedelta(minutes=rng.randrange(5, 60 * 24 * 20))
        rows.append(
            Camera(
                **fields,
                heading=rng.randrange(0, 360, 15),
                grid_id=a["grid_id"],
                asset_id=a["id"],
                status=status,
                status_since=since,
                last_frame_at=None if status == CameraStatus.OFFLINE else reference,
                last_error=ERRORS.get(status, ""),
            )
        )
    Camera.objects.bulk_create(rows, batch_size=BATCH)
    audit("demo.cameras", actor=actor, count=len(rows))
    counts: Counter[str] = Counter(video_cameras=len(rows))
    online = list(Camera.objects.filter(status=CameraStatus.ONLINE).order_by("code"))
    if not online:
        return counts
    picked = rng.sample(online, min(len(ALERTS), len(online)))
    for i, (camera, (kind, zone, label, description)) in enumerate(zip(picked, ALERTS, strict=False)):
        counts["video_alerts"] += _alert(camera, i, kind, zone, label, description, seed, reference, actor)
    for camera in {c.pk: c for c in [*online[:WITH_FRAMES], *picked]}.values():
        frame_rng = random.Random(f"{seed}:frame:{camera.code}")
        services.store_latest_snapshot(camera.pk, _jpeg(draw_scene(frame_rng, None, None, None, camera.code)))
        counts["video_frames"] += 1
    return counts


def _alert(
    camera: Camera,
    i: int,
    kind: str,
    zone: str,
    label: str,
    description: str,
    seed: int,
    reference: dt.datetime,
    actor: str,
) -> int:
    rng = random.Random(f"{seed}:alert:{i}")
    polygon = ZONES[kind]
    box = OBJECTS[kind](rng)
    zone_id, rule_id = f"zone-{kind}", f"{kind}-1"
    analytics: dict[str, Any] = {
        "zones": [{"id": zone_id, "name": zone, "polygon": [list(p) for p in polygon]}],
        "rules": [{"id": rule_id, "kind": kind, "zone": zone_id}],
    }
    if kind == "intrusion":
        analytics["rules"][0]["schedule"] = [{"start": "22:00", "end": "06:00"}]
    services.set_analytics(camera, analytics, actor=actor)
    at = reference - dt.timedelta(minutes=17 + 173 * i)
    night = kind == "intrusion"
    image = draw_scene(rng, kind, polygon, box, camera.code, at=at, night=night, label=label)
    _alert_obj, created = services.raise_alert(
        camera,
        origin=AlertOrigin.ENGINE,
        source_id=f"demo:{seed}:{i}",
        kind=AlertKind(kind),
        detected_at=at,
        rule_id=rule_id,
        zone_id=zone_id,
        zone_name=zone,
        label=label,
        confidence=round(rng.uniform(0.62, 0.94), 2),
        box=box,
        description=description,
        snapshot=_jpeg(image),
    )
    return int(created)


def _weighted[T](rng: random.Random, pairs: Sequence[tuple[T, float]]) -> T:
    return rng.choices([p for p, _ in pairs], weights=[w for _, w in pairs])[0]


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()


# --- drawing ---------------------------------------------------------------------------------------

# Each kind's zone (image fractions) and where its object stands (a box inside the zone).
ZONES: dict[str, list[tuple[float, float]]] = {
    "parking": [(0.05, 0.62), (0.42, 0.55), (0.47, 0.98), (0.02, 0.98)],
    "vending": [(0.62, 0.55), (0.97, 0.6), (0.99, 0.98), (0.7, 0.98)],
    "crowd": [(0.3, 0.52), (0.72, 0.52), (0.82, 0.95), (0.2, 0.95)],
    "debris": [(0.04, 0.6), (0.3, 0.57), (0.34, 0.95), (0.03, 0.95)],
    "intrusion": [(0.45, 0.5), (0.9, 0.52), (0.95, 0.92), (0.4, 0.9)],
}


def _jitter(rng: random.Random, box: Box, by: float = 0.03) -> Box:
    dx, dy = rng.uniform(-by, by), rng.uniform(-by / 2, by / 2)
    return (box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy)


OBJECTS = {
    "parking": lambda rng: _jitter(rng, (0.12, 0.66, 0.36, 0.86)),
    "vending": lambda rng: _jitter(rng, (0.72, 0.6, 0.9, 0.9)),
    "crowd": lambda rng: _jitter(rng, (0.34, 0.56, 0.7, 0.9)),
    "debris": lambda rng: _jitter(rng, (0.1, 0.74, 0.24, 0.88)),
    "intrusion": lambda rng: _jitter(rng, (0.6, 0.58, 0.68, 0.86)),
}


def _px(x: float, y: float) -> tuple[int, int]:
    return round(x * W), round(y * H)


def draw_scene(
    rng: random.Random,
    kind: str | None,
    zone: Sequence[tuple[float, float]] | None,
    box: Box | None,
    code: str,
    *,
    at: dt.datetime | None = None,
    night: bool = False,
    label: str = "",
) -> Image.Image:
    """A street seen from a pole: sky, buildings, pavement, road with lane marks; for an alert its
    object, the zone outline and the detection box with its label."""
    sky = (28, 34, 52) if night else (178, 200, 222)
    image = Image.new("RGB", (W, H), sky)
    d = ImageDraw.Draw(image)
    x = 0
    while x < W:  # a row of buildings with windows
        w, h = rng.randrange(70, 150), rng.randrange(90, 170)
        tone = rng.randrange(120, 200) // (3 if night else 1)
        d.rectangle([x, 200 - h, x + w, 200], fill=(tone, tone - 8, tone - 16))
        for wx in range(x + 8, x + w - 12, 18):
            for wy in range(210 - h, 190, 22):
                lit = night and rng.random() < 0.4
                d.rectangle([wx, wy, wx + 9, wy + 12], fill=(250, 220, 120) if lit else (90, 110, 130))
        x += w + rng.randrange(4, 20)
    ground = (60, 62, 66) if night else (118, 120, 124)
    d.rectangle([0, 200, W, H], fill=(150, 146, 138) if not night else (50, 50, 52))  # pavement
    d.polygon([(180, 200), (460, 200), (W, H), (0, H)], fill=ground)  # the road, in perspective
    for t in range(6):  # dashed centre line
        y0, y1 = 205 + t * 26, 216 + t * 30
        d.polygon([(318, y0), (322, y0), (324 + t, y1), (316 - t, y1)], fill=(235, 235, 225))
    if kind is not None and box is not None:
        OBJECT_DRAWERS[kind](d, rng, box, night)
    if zone:
        d.line([_px(*p) for p in [*zone, zone[0]]], fill=(250, 204, 21), width=2)
    if box is not None:
        d.rectangle([*_px(box[0], box[1]), *_px(box[2], box[3])], outline=(239, 68, 68), width=3)
        if label:
            tx, ty = _px(box[0], box[1])
            d.rectangle([tx, ty - 14, tx + 8 * len(label) + 6, ty], fill=(239, 68, 68))
            d.text((tx + 3, ty - 13), label, fill=(255, 255, 255))
    stamp = (at or dt.datetime(2026, 1, 1, 12)).strftime("%Y-%m-%d %H:%M:%S")
    d.rectangle([0, 0, 8 * (len(stamp) + len(code)) + 30, 16], fill=(0, 0, 0))
    d.text((4, 2), f"{stamp}  {code}", fill=(255, 255, 255))
    return image


def _vehicle(d: ImageDraw.ImageDraw, rng: random.Random, box: Box, night: bool) -> None:
    x1, y1 = _px(box[0], box[1])
    x2, y2 = _px(box[2], box[3])
    colour = rng.choice([(200, 30, 40), (30, 60, 160), (230, 230, 230), (40, 40, 44), (190, 190, 196)])
    roof = y1 + (y2 - y1) // 3
    d.rounded_rectangle([x1, roof, x2, y2 - 8], radius=8, fill=colour)
    d.rounded_rectangle([x1 + 14, y1 + 4, x2 - 14, roof + 6], radius=8, fill=colour)
    d.rectangle([x1 + 20, y1 + 10, x2 - 20, roof + 2], fill=(60, 80, 100))
    for wx in (x1 + 18, x2 - 34):
        d.ellipse([wx, y2 - 20, wx + 18, y2], fill=(20, 20, 20))
    if night:
        d.ellipse([x1 + 2, roof + 10, x1 + 12, roof + 18], fill=(255, 240, 180))


def _person(d: ImageDraw.ImageDraw, x: int, y1: int, y2: int, colour: tuple[int, int, int]) -> None:
    height = y2 - y1
    head = max(4, height // 8)
    d.ellipse([x - head, y1, x + head, y1 + 2 * head], fill=(224, 184, 150))
    d.rounded_rectangle(
        [x - head - 3, y1 + 2 * head, x + head + 3, y1 + height * 3 // 5], radius=3, fill=colour
    )
    d.rectangle([x - head, y1 + height * 3 // 5, x - 1, y2], fill=(40, 40, 60))
    d.rectangle([x + 1, y1 + height * 3 // 5, x + head, y2], fill=(40, 40, 60))


COATS = [(180, 40, 40), (40, 90, 170), (30, 120, 70), (200, 160, 40), (90, 90, 90), (150, 60, 140)]


def _people(d: ImageDraw.ImageDraw, rng: random.Random, box: Box, night: bool, n: int) -> None:
    x1, y1 = _px(box[0], box[1])
    x2, y2 = _px(box[2], box[3])
    for k in range(n):
        x = x1 + (k + 0.5) * (x2 - x1) / n + rng.uniform(-4, 4)
        top = y1 + rng.randrange(0, max(1, (y2 - y1) // 6))
        _person(d, round(x), top, y2, rng.choice(COATS))


def _vending(d: ImageDraw.ImageDraw, rng: random.Random, box: Box, night: bool) -> None:
    x1, y1 = _px(box[0], box[1])
    x2, y2 = _px(box[2], box[3])
    d.pieslice([x1, y1 - 10, x2, y1 + 40], 180, 360, fill=(220, 60, 50))  # the stall's umbrella
    d.line([((x1 + x2) // 2, y1 + 15), ((x1 + x2) // 2, y2)], fill=(80, 80, 80), width=2)
    d.rectangle([x1 + 6, y2 - 30, x2 - 30, y2], fill=(150, 110, 70))  # the cart
    for k in range(4):
        d.ellipse([x1 + 10 + 12 * k, y2 - 40, x1 + 20 + 12 * k, y2 - 30], fill=(240, 150, 30))
    _person(d, x2 - 14, y1 + 30, y2, rng.choice(COATS))


def _debris(d: ImageDraw.ImageDraw, rng: random.Random, box: Box, night: bool) -> None:
    x1, y1 = _px(box[0], box[1])
    x2, y2 = _px(box[2], box[3])
    for _ in range(14):
        cx, cy = rng.uniform(x1 + 6, x2 - 6), rng.uniform(y1 + 8, y2 - 4)
        r = rng.uniform(5, 14)
        tone = rng.choice([(70, 60, 50), (220, 220, 210), (40, 90, 150), (110, 90, 60), (30, 30, 30)])
        d.ellipse([cx - r, cy - r * 0.7, cx + r, cy + r * 0.7], fill=tone)


OBJECT_DRAWERS = {
    "parking": _vehicle,
    "vending": _vending,
    "crowd": lambda d, rng, box, night: _people(d, rng, box, night, 7),
    "debris": _debris,
    "intrusion": lambda d, rng, box, night: _people(d, rng, box, night, 1),
}
