"""Drone photos: where each photo was taken, what ground it shows, and where its detections are.

- `read_photo` decodes a photo in full (a truncated or fake file is refused) and reads its position,
  altitude, time, camera pose and optics from EXIF and DJI's XMP (`drone-dji:` attributes).
- `footprint` casts the rays of the image's corners from the camera pose (heading, gimbal pitch and
  roll) onto flat ground `alt_m` below the camera: a pinhole model with no lens distortion and no
  terrain. `Footprint.to_ground` does the same for any point of the image.
- `project_detections` turns detector boxes (image fractions) into ground positions.
- `cli_photo` is `shequ drone photo FILE... [--json]`.

Coordinates are (lon, lat) WGS-84, as in `shequ.core.geo`. No Django import.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import IO, Any
from zoneinfo import ZoneInfo

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from shequ.core.geo import bearing_deg, distance_m, local_projection

from .detect import Detection, Detector, load_detector
from .optics import CameraModel

DEFAULT_MAX_PIXELS = 100_000_000  # 100 MP: above any survey camera (P1 45 MP), below a bomb
MAX_AGL_M = 1500.0  # higher than any small drone may fly; a larger figure is a wrong altitude
# A corner ray closer than this to the horizon sends the footprint kilometres away (28x the height
# at 2 degrees): such a photo has no usable footprint.
MIN_DEPRESSION_DEG = 2.0
NEAR_NADIR_DEG = 20.0  # within this of straight down a box's centre is the object's ground point
LOCAL_TZ = ZoneInfo("Asia/Shanghai")  # EXIF times are the camera's local time, set in China
_XMP_MAX = 1 << 20

# Sensor width x height in mm of DJI cameras, by EXIF Model (the focal length comes from EXIF).
KNOWN_SENSORS: dict[str, tuple[float, float]] = {
    "FC350": (6.17, 4.55),  # Inspire 1 Zenmuse X3, 1/2.3"
    "FC300X": (6.17, 4.55),  # Phantom 3 Professional
    "FC300S": (6.17, 4.55),  # Phantom 3 Advanced
    "FC330": (6.17, 4.55),  # Phantom 4
    "FC220": (6.17, 4.55),  # Mavic Pro
    "FC2103": (6.17, 4.55),  # Mavic Air
    "FC6310": (13.2, 8.8),  # Phantom 4 Pro, 1"
    "FC6310S": (13.2, 8.8),  # Phantom 4 Pro V2.0
    "FC6310R": (13.2, 8.8),  # Phantom 4 RTK
    "FC6510": (13.2, 8.8),  # Zenmuse X4S
    "L1D-20C": (13.2, 8.8),  # Mavic 2 Pro (Hasselblad)
    "FC3170": (6.4, 4.8),  # Mavic Air 2, 1/2"
    "FC6520": (17.3, 13.0),  # Zenmuse X5S, Micro Four Thirds
    "M3E": (17.3, 13.0),  # Mavic 3 Enterprise, 4/3"
}
_DIAGONAL_35MM = math.hypot(36.0, 24.0)

# EXIF orientation -> degrees the stored image turns clockwise to be shown upright (mirrored
# variants as their rotation: no camera writes them).
_TURN = {1: 0.0, 2: 0.0, 3: 180.0, 4: 180.0, 5: 90.0, 6: 90.0, 7: 270.0, 8: 270.0}


class PhotoError(ValueError):
    """A photo that cannot be placed on the map; `field` says which part is wrong, `message` (Chinese)
    says what, for the uploader."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class PhotoMeta:
    width: int  # pixels of the stored image, after EXIF orientation
    height: int
    taken_at: datetime | None
    lon: float
    lat: float
    alt_m: float  # height above ground used for the footprint
    alt_source: str  # "xmp_relative" | "gps_minus_ground" | "gps_assumed_agl" | "given"
    alt_msl_m: float | None
    # Degrees clockwise from north that the top edge of the upright image faces on the ground.
    heading: float | None
    heading_source: str  # "xmp_gimbal_yaw" | "xmp_flight_yaw" | "exif_img_direction" | "track" | "given" | ""
    gimbal_pitch: float | None  # -90 = nadir
    gimbal_roll: float | None
    camera: CameraModel | None
    make: str
    model: str
    orientation: int = 1  # EXIF orientation of the stored image (1..8)


# --- reading --------------------------------------------------------------------------------------


def _num(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return f if math.isfinite(f) else None


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return str(value or "").replace("\x00", "").strip()


def _dms(value: Any, ref: Any) -> float | None:
    try:
        d, m, s = (float(v) for v in value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    deg = d + m / 60.0 + s / 3600.0
    if not math.isfinite(deg):
        return None
    return -deg if _text(ref).upper() in ("S", "W") else deg


_XMP_PACKET = re.compile(rb"<x:xmpmeta[\s>].*?</x:xmpmeta>", re.DOTALL)
_DJI_NS = "dji.com/drone-dji"


def _xmp_packet(image: Image.Image, data: bytes) -> bytes:
    raw = image.info.get("xmp")
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    if not raw:
        # Pillow keeps only the APP1 XMP segment of a JPEG; look for a packet anywhere in the head.
        m = _XMP_PACKET.search(data[: 4 * _XMP_MAX])
        raw = m.group(0) if m else b""
    return raw[:_XMP_MAX] if isinstance(raw, bytes) else b""


def parse_dji_xmp(packet: bytes) -> dict[str, str]:
    """The `drone-dji:` properties of an XMP packet, as attributes or as elements, by local name.
    defusedxml refuses entity expansion (billion laughs) and external entities."""
    from defusedxml import ElementTree as SafeET

    start = packet.find(b"<x:xmpmeta")
    end = packet.rfind(b"</x:xmpmeta>")
    if start < 0 or end < 0:
        return {}
    try:
        root = SafeET.fromstring(packet[start : end + len(b"</x:xmpmeta>")])
    except (SafeET.ParseError, ValueError):  # broken or hostile (DefusedXmlException): no DJI values
        return {}
    found: dict[str, str] = {}
    for el in root.iter():
        for key, value in el.attrib.items():
            if key.startswith("{") and _DJI_NS in key:
                found[key.rsplit("}", 1)[1]] = value.strip()
        tag = el.tag if isinstance(el.tag, str) else ""
        if tag.startswith("{") and _DJI_NS in tag and el.text and el.text.strip():
            found[tag.rsplit("}", 1)[1]] = el.text.strip()
    return found


def _taken_at(exif_ifd: Any, ifd0: Any) -> datetime | None:
    text = _text(exif_ifd.get(0x9003) or exif_ifd.get(0x9004) or ifd0.get(0x0132))
    try:
        naive = datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    offset = _text(exif_ifd.get(0x9011) or exif_ifd.get(0x9010))  # OffsetTimeOriginal, OffsetTime
    m = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", offset)
    if m:
        delta = timedelta(hours=int(m.group(2)), minutes=int(m.group(3)))
        return naive.replace(tzinfo=timezone(delta if m.group(1) == "+" else -delta))
    return naive.replace(tzinfo=LOCAL_TZ)


def camera_from_exif(
    make: str, model: str, focal_mm: float | None, focal_35mm: float | None, width: int, height: int
) -> CameraModel | None:
    """Optics of the stored image from EXIF: a known sensor and the focal length, else the 35 mm
    equivalent focal length (which fixes the field of view along the diagonal)."""
    long_px, short_px = max(width, height), min(width, height)
    sensor = KNOWN_SENSORS.get(model.upper()) if make.upper().startswith("DJI") or model else None
    if sensor and focal_mm and focal_mm > 0:
        sw, sh = sensor
        # A 16:9 or 3:2 photo from a 4:3 sensor uses its full width and part of its height.
        sh = min(sh, sw * short_px / long_px)
    elif focal_35mm and focal_35mm > 0:
        diag = math.hypot(long_px, short_px)
        sw, sh = _DIAGONAL_35MM * long_px / diag, _DIAGONAL_35MM * short_px / diag
        if focal_mm and focal_mm > 0:  # the same field of view on the real focal length
            k = focal_mm / focal_35mm
            sw, sh = sw * k, sh * k
        else:
            focal_mm = focal_35mm
    else:
        return None
    assert focal_mm is not None
    if width < height:
        sw, sh = sh, sw
    return CameraModel(sw, sh, float(focal_mm), width, height)


def _decode(data: bytes, name: str, max_pixels: int) -> Image.Image:
    """Open and fully decode once; refuses non-images, decompression bombs and truncated files
    (Pillow's load() raises on a truncated JPEG: LOAD_TRUNCATED_IMAGES stays off)."""
    label = name or "照片"
    if not data:
        raise PhotoError("photo", f"{label}：文件为空")
    try:
        image = Image.open(io.BytesIO(data))
        w, h = image.size
        if w * h > max_pixels:
            image.close()
            raise PhotoError("photo", f"{label}：图像过大（{w}×{h} 像素，上限 {max_pixels} 像素）")
        image.load()
    except PhotoError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise PhotoError("photo", f"{label}：不是可识别的图片") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise PhotoError("photo", f"{label}：图片已损坏或不完整（{exc}）") from exc
    return image


def _read(
    data: bytes,
    *,
    name: str,
    ground_elevation_m: float | None,
    camera: CameraModel | None,
    max_pixels: int,
    altitude_m: float | None,
    heading: float | None,
) -> tuple[PhotoMeta, Image.Image]:
    image = _decode(data, name, max_pixels)
    label = name or "照片"
    exif = image.getexif()
    ifd0: dict[int, Any] = dict(exif)
    exif_ifd: Any = exif.get_ifd(0x8769)
    gps: Any = exif.get_ifd(0x8825)
    xmp = parse_dji_xmp(_xmp_packet(image, data))

    orientation = int(ifd0.get(0x0112, 1) or 1)
    if orientation not in _TURN:
        orientation = 1
    w, h = image.size
    if orientation >= 5:
        w, h = h, w

    lat = _dms(gps.get(2), gps.get(1)) if gps else None
    lon = _dms(gps.get(4), gps.get(3)) if gps else None
    if lat is None or lon is None:
        raise PhotoError("gps", f"{label}：照片没有 GPS 位置（EXIF 中缺少经纬度）")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
        raise PhotoError("gps", f"{label}：GPS 位置无效（{lat:.6f}, {lon:.6f}）")

    gps_alt = _num(gps.get(6)) if gps else None
    if gps_alt is not None and gps.get(5) in (1, b"\x01"):
        gps_alt = -gps_alt
    msl = _num(xmp.get("AbsoluteAltitude"))
    msl = msl if msl is not None else gps_alt
    relative = _num(xmp.get("RelativeAltitude"))
    agl: float | None
    if altitude_m is not None:
        agl, alt_source = float(altitude_m), "given"
    elif relative is not None:
        agl, alt_source = relative, "xmp_relative"
    elif msl is not None and ground_elevation_m is not None:
        agl, alt_source = msl - ground_elevation_m, "gps_minus_ground"
    elif gps_alt is not None:
        # Early DJI firmware writes the height above the take-off point here; with no ground
        # elevation to subtract, that is the best reading there is.
        agl, alt_source = gps_alt, "gps_assumed_agl"
    else:
        raise PhotoError("altitude", f"{label}：照片没有高度信息（EXIF/XMP 中均无）")
    if not (math.isfinite(agl) and 0 < agl <= MAX_AGL_M):
        raise PhotoError("altitude", f"{label}：离地高度不合理（{agl:g} 米，应在 0 到 {MAX_AGL_M:g} 米之间）")

    yaw: float | None
    if heading is not None:
        yaw, heading_source = float(heading), "given"
    elif (v := _num(xmp.get("GimbalYawDegree"))) is not None:
        yaw, heading_source = v, "xmp_gimbal_yaw"
    elif (v := _num(xmp.get("FlightYawDegree"))) is not None:
        yaw, heading_source = v, "xmp_flight_yaw"
    elif gps and (v := _num(gps.get(17))) is not None:
        yaw, heading_source = v, "exif_img_direction"
    else:
        yaw, heading_source = None, ""
    if yaw is not None and heading_source != "given":
        # The camera's yaw is its sensor's top; shown upright, the top is the sensor's side that
        # turned there (orientation 6: the sensor's left).
        yaw -= _TURN[orientation]
    pitch = _num(xmp.get("GimbalPitchDegree"))
    roll = _num(xmp.get("GimbalRollDegree"))
    for what, value in (("heading", yaw), ("gimbal", pitch), ("gimbal", roll)):
        if value is not None and abs(value) > 360:
            raise PhotoError(what, f"{label}：云台/航向角度不合理（{value:g}°）")

    make, model = _text(ifd0.get(0x010F)), _text(ifd0.get(0x0110))
    if camera is None:
        camera = camera_from_exif(
            make,
            model,
            _num(exif_ifd.get(0x920A)),
            _num(exif_ifd.get(0xA405)),
            image.size[0],
            image.size[1],
        )
        if camera is not None and orientation >= 5:
            camera = CameraModel(
                camera.sensor_height_mm, camera.sensor_width_mm, camera.focal_length_mm, w, h
            )
    meta = PhotoMeta(
        width=w,
        height=h,
        taken_at=_taken_at(exif_ifd, ifd0),
        lon=lon,
        lat=lat,
        alt_m=agl,
        alt_source=alt_source,
        alt_msl_m=msl,
        heading=None if yaw is None else yaw % 360.0,
        heading_source=heading_source,
        gimbal_pitch=pitch,
        gimbal_roll=roll,
        camera=camera,
        make=make,
        model=model,
        orientation=orientation,
    )
    return meta, image


def read_photo(
    data: bytes,
    *,
    name: str = "",
    ground_elevation_m: float | None = None,
    camera: CameraModel | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    altitude_m: float | None = None,
    heading: float | None = None,
) -> PhotoMeta:
    """Position, altitude, pose and optics of one photo. `ground_elevation_m` (metres above sea
    level) turns a GPS altitude into a height above ground; `camera` (the drone's registered
    optics) overrides EXIF's; `altitude_m` / `heading` override what the photo says. Raises
    PhotoError with a field and a Chinese message."""
    meta, image = _read(
        data,
        name=name,
        ground_elevation_m=ground_elevation_m,
        camera=camera,
        max_pixels=max_pixels,
        altitude_m=altitude_m,
        heading=heading,
    )
    image.close()
    return meta


def headings_from_track(metas: Sequence[PhotoMeta], min_move_m: float = 0.5) -> list[PhotoMeta]:
    """Fill missing headings (source "track") from the bearing between consecutive photos, in time
    order when all have times. A drone camera faces where the aircraft flies on a survey; at the
    end of a survey line the next leg is the turn, so when the legs before and after disagree
    the one that led to the photo wins."""
    order = list(range(len(metas)))
    if all(m.taken_at is not None for m in metas):
        order.sort(key=lambda i: metas[i].taken_at)  # type: ignore[arg-type,return-value]
    out = list(metas)

    def leg(a: int, b: int) -> float | None:
        pa, pb = metas[a], metas[b]
        if distance_m(pa.lon, pa.lat, pb.lon, pb.lat) < min_move_m:
            return None
        return bearing_deg(pa.lon, pa.lat, pb.lon, pb.lat)

    for k, i in enumerate(order):
        if metas[i].heading is not None:
            continue
        before = leg(order[k - 1], i) if k > 0 else None
        after = leg(i, order[k + 1]) if k + 1 < len(order) else None
        if before is not None and after is not None:
            diff = (after - before + 180.0) % 360.0 - 180.0
            bearing = (before + diff / 2.0) % 360.0 if abs(diff) <= 30.0 else before
        else:
            bearing = before if before is not None else after  # type: ignore[assignment]
        if bearing is not None:
            out[i] = replace(metas[i], heading=round(bearing, 2), heading_source="track")
    return out


# --- footprint ------------------------------------------------------------------------------------


def _rotation(yaw_deg: float, pitch_deg: float, roll_deg: float) -> np.ndarray:
    """Columns: the camera's right, down and forward (optical axis) in east-north-up. In the order
    of a three-axis gimbal's motors: yaw clockwise from north, then roll about the level forward
    axis (positive lowers the right side), then pitch from level (-90 looks straight down, the
    image's top then facing the yaw)."""
    psi, theta, phi = (math.radians(a) for a in (yaw_deg, pitch_deg, roll_deg))
    f0 = np.array([math.sin(psi), math.cos(psi), 0.0])
    r0 = np.array([math.cos(psi), -math.sin(psi), 0.0])
    u0 = np.array([0.0, 0.0, 1.0])
    r1 = math.cos(phi) * r0 - math.sin(phi) * u0
    u1 = math.sin(phi) * r0 + math.cos(phi) * u0
    f2 = math.cos(theta) * f0 + math.sin(theta) * u1
    u2 = -math.sin(theta) * f0 + math.cos(theta) * u1
    return np.column_stack([r1, -u2, f2])


@dataclass(frozen=True)
class Footprint:
    """The ground a photo shows. `polygon` starts at the image's top-left corner and runs
    counter-clockwise on the map (top-left, bottom-left, bottom-right, top-right, top-left)."""

    polygon: list[tuple[float, float]]
    gsd_m: float  # metres of ground per pixel at the image centre (the coarser axis)
    origin: tuple[float, float] = (0.0, 0.0)  # the camera's (lon, lat)
    alt_m: float = 0.0
    pitch: float = -90.0
    _pose: tuple[Any, ...] = field(default=(), repr=False, compare=False)

    def _rays(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        rot, tan_x, tan_y = self._pose
        cam = np.stack([(x - 0.5) * 2 * tan_x, (y - 0.5) * 2 * tan_y, np.ones_like(x)])
        return np.asarray(rot @ cam)

    def _ground_xy(self, x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        """Image fractions -> metres east and north of the point below the camera."""
        xs, ys = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
        ray = self._rays(xs.ravel(), ys.ravel())
        if np.any(ray[2] >= -1e-9):
            raise ValueError("a point at or above the horizon has no ground position")
        t = self.alt_m / -ray[2]
        return (t * ray[0]).reshape(xs.shape), (t * ray[1]).reshape(xs.shape)

    def to_ground_many(self, x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        """Image fractions -> (lons, lats) arrays; raises ValueError for a point at or above the horizon."""
        east, north = self._ground_xy(x, y)
        _, inverse = local_projection(*self.origin)
        lon, lat = inverse(east, north)
        return np.asarray(lon), np.asarray(lat)

    def to_ground(self, x: float, y: float) -> tuple[float, float]:
        """Image fractions (0..1 from the left, 0..1 from the top) -> (lon, lat) on the ground."""
        lon, lat = self.to_ground_many(x, y)
        return float(lon), float(lat)

    def to_image_many(self, lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
        """(lon, lat) on the ground -> image fractions (NaN behind the camera). The inverse of to_ground."""
        rot, tan_x, tan_y = self._pose
        forward, _ = local_projection(*self.origin)
        e, n = forward(lon, lat)
        e, n = np.broadcast_arrays(np.asarray(e, dtype=float), np.asarray(n, dtype=float))
        world = np.stack([e.ravel(), n.ravel(), np.full(e.size, -self.alt_m)])
        cam = rot.T @ world
        with np.errstate(divide="ignore", invalid="ignore"):
            x = np.where(cam[2] > 0, cam[0] / cam[2] / (2 * tan_x) + 0.5, np.nan)
            y = np.where(cam[2] > 0, cam[1] / cam[2] / (2 * tan_y) + 0.5, np.nan)
        return x.reshape(e.shape), y.reshape(e.shape)

    @property
    def centre(self) -> tuple[float, float]:
        return self.to_ground(0.5, 0.5)

    def geojson(self) -> dict[str, Any]:
        return {"type": "Polygon", "coordinates": [[[lon, lat] for lon, lat in self.polygon]]}


def footprint(meta: PhotoMeta, camera: CameraModel | None = None) -> Footprint:
    """The photo's ground footprint on flat ground `meta.alt_m` below the camera. Pitch unknown ->
    nadir; heading unknown -> north (call `headings_from_track` first). Raises PhotoError: field
    "camera" without optics, "gimbal" when a corner of the image sees the horizon."""
    cam = camera or meta.camera
    if cam is None:
        raise PhotoError("camera", "未知相机参数（传感器尺寸和焦距），无法计算照片地面范围")
    # The upright image is what the pose describes (drone cameras store it upright: orientation 1).
    sw_px, sh_px = meta.width, meta.height
    sensor_w, sensor_h, cam_w, cam_h = (
        cam.sensor_width_mm,
        cam.sensor_height_mm,
        cam.image_width,
        cam.image_height,
    )
    if (cam_w - cam_h) * (sw_px - sh_px) < 0:  # registered landscape, stored portrait (or back)
        sensor_w, sensor_h, cam_w, cam_h = sensor_h, sensor_w, cam_h, cam_w
    # A photo of another aspect than the camera's full frame (16:9 from 4:3) is a crop of the full
    # sensor width: keep the pixel pitch.
    scale = sw_px / cam_w
    tan_x = sensor_w / (2 * cam.focal_length_mm)
    tan_y = (sh_px / scale) * (sensor_h / cam_h) / (2 * cam.focal_length_mm)
    pitch = -90.0 if meta.gimbal_pitch is None else meta.gimbal_pitch
    roll = 0.0 if meta.gimbal_roll is None else meta.gimbal_roll
    rot = _rotation(meta.heading or 0.0, pitch, roll)
    pose = (rot, tan_x, tan_y)
    fp = Footprint([], 0.0, (meta.lon, meta.lat), meta.alt_m, pitch, pose)

    corners_x = np.array([0.0, 0.0, 1.0, 1.0])
    corners_y = np.array([0.0, 1.0, 1.0, 0.0])
    rays = fp._rays(corners_x, corners_y)
    depression = np.degrees(np.arcsin(-rays[2] / np.linalg.norm(rays, axis=0)))
    if np.any(depression < MIN_DEPRESSION_DEG):
        raise PhotoError(
            "gimbal",
            f"云台角度使画面包含地平线（俯仰 {pitch:g}°，横滚 {roll:g}°），无法计算地面范围",
        )
    lons, lats = fp.to_ground_many(corners_x, corners_y)
    ring = [(float(a), float(b)) for a, b in zip(lons, lats, strict=True)]
    ring.append(ring[0])
    # GSD at the centre: the ground moved by one pixel along each image axis.
    px, py = 1.0 / meta.width, 1.0 / meta.height
    ex, ny = fp._ground_xy(np.array([0.5, 0.5 + px, 0.5]), np.array([0.5, 0.5, 0.5 + py]))
    gsd = max(math.hypot(ex[1] - ex[0], ny[1] - ny[0]), math.hypot(ex[2] - ex[0], ny[2] - ny[0]))
    return replace(fp, polygon=ring, gsd_m=gsd)


# --- detections -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroundDetection:
    label: str
    score: float
    box: tuple[float, float, float, float]  # image fractions (x1, y1, x2, y2)
    lon: float
    lat: float


def project_detections(fp: Footprint, detections: Sequence[Detection]) -> list[GroundDetection]:
    """Each detection's ground position: the box centre looking (nearly) straight down, the box's
    bottom centre in an oblique photo (where an upright object stands on the ground)."""
    if not detections:
        return []
    nadir = abs(fp.pitch + 90.0) <= NEAR_NADIR_DEG
    xs = np.array([(d.box[0] + d.box[2]) / 2 for d in detections])
    ys = np.array([(d.box[1] + d.box[3]) / 2 if nadir else d.box[3] for d in detections])
    lons, lats = fp.to_ground_many(xs, ys)
    return [
        GroundDetection(d.label, d.score, tuple(d.box), float(lon), float(lat))  # type: ignore[arg-type]
        for d, lon, lat in zip(detections, lons, lats, strict=True)
    ]


def to_bgr(image: Image.Image) -> np.ndarray:
    """A decoded PIL image, turned upright by its EXIF orientation, as an OpenCV BGR array. Copies
    the pixels once (a photo already upright and RGB is not transposed or converted first)."""
    import cv2

    orientation = int(image.getexif().get(0x0112, 1) or 1)
    upright = ImageOps.exif_transpose(image) if orientation != 1 else image
    if upright.mode != "RGB":
        upright = upright.convert("RGB")
    return np.asarray(cv2.cvtColor(np.asarray(upright), cv2.COLOR_RGB2BGR))


def read_photo_bgr(data: bytes, **read_kwargs: Any) -> tuple[PhotoMeta, np.ndarray]:
    """`read_photo` and the upright BGR pixels, from one decode. `read_kwargs` as read_photo's."""
    meta, image = _read(data, **_read_defaults(read_kwargs))
    try:
        return meta, to_bgr(image)
    finally:
        image.close()


def _read_defaults(read_kwargs: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "",
        "ground_elevation_m": None,
        "camera": None,
        "max_pixels": DEFAULT_MAX_PIXELS,
        "altitude_m": None,
        "heading": None,
        **read_kwargs,
    }


DEFAULT_TILE_OVERLAP = 0.2  # of a tile: an object cut by one tile's edge is whole in the next


def _starts(length: int, tile: int, overlap: float) -> list[int]:
    if length <= tile:
        return [0]
    count = math.ceil((length - tile * overlap) / (tile * (1 - overlap)))
    step = (length - tile) / max(1, count - 1)
    return [round(i * step) for i in range(count)]


def _overlap_of_smaller(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over the smaller box: a box cut by a tile's edge lies inside the whole one."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return w * h / smaller if smaller > 0 else 0.0


def detect_tiled(
    image: np.ndarray, detector: Detector, tile_px: int = 640, overlap: float = DEFAULT_TILE_OVERLAP
) -> list[Detection]:
    """Detections over square tiles of `tile_px` pixels overlapping by `overlap` of a tile (0: the
    whole image at once). From 100 m a person is ~20 px tall: a detector that scales a whole photo
    down to its 300-px input sees nothing. Boxes in fractions of the whole image; the same object
    seen by two tiles is kept once (the higher score)."""
    h, w = image.shape[:2]
    if tile_px <= 0 or max(h, w) <= tile_px:
        return list(detector.detect(image))
    if not 0 <= overlap < 1:
        raise ValueError("overlap must be in [0, 1)")
    found: list[Detection] = []
    for y in _starts(h, tile_px, overlap):
        for x in _starts(w, tile_px, overlap):
            part = image[y : y + tile_px, x : x + tile_px]
            ph, pw = part.shape[:2]
            for d in detector.detect(part):
                box = (
                    (x + d.box[0] * pw) / w,
                    (y + d.box[1] * ph) / h,
                    (x + d.box[2] * pw) / w,
                    (y + d.box[3] * ph) / h,
                )
                found.append(Detection(d.label, d.score, box))
    kept: list[Detection] = []
    for d in sorted(found, key=lambda d: -d.score):
        if all(k.label != d.label or _overlap_of_smaller(k.box, d.box) < 0.6 for k in kept):
            kept.append(d)
    return kept


def analyse_photo(
    data: bytes,
    detector: Detector | None,
    *,
    tile_px: int = 0,
    overlap: float = DEFAULT_TILE_OVERLAP,
    **read_kwargs: Any,
) -> tuple[PhotoMeta, Footprint, list[GroundDetection]]:
    """Read, footprint, detect (on the upright image, over tiles of `tile_px`: see detect_tiled;
    0 = the whole image) and project one photo, decoding it once. `read_kwargs` go to
    `read_photo` (name, ground_elevation_m, camera, max_pixels, altitude_m, heading)."""
    if detector is None:
        meta = read_photo(data, **read_kwargs)
        return meta, footprint(meta), []
    meta, image = read_photo_bgr(data, **read_kwargs)
    fp = footprint(meta)
    return meta, fp, project_detections(fp, detect_tiled(image, detector, tile_px, overlap))


# --- command line ---------------------------------------------------------------------------------


def _r(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def photo_json(name: str, meta: PhotoMeta, fp: Footprint, found: Sequence[GroundDetection]) -> dict[str, Any]:
    cam = meta.camera
    return {
        "file": name,
        "taken_at": meta.taken_at.isoformat() if meta.taken_at else None,
        "lon": round(meta.lon, 7),
        "lat": round(meta.lat, 7),
        "alt_m": round(meta.alt_m, 2),
        "alt_source": meta.alt_source,
        "alt_msl_m": _r(meta.alt_msl_m, 2),
        "heading": _r(meta.heading, 2),
        "heading_source": meta.heading_source,
        "gimbal_pitch": _r(meta.gimbal_pitch, 2),
        "gimbal_roll": _r(meta.gimbal_roll, 2),
        "make": meta.make,
        "model": meta.model,
        "size": [meta.width, meta.height],
        "camera": None
        if cam is None
        else {
            "sensor_mm": [round(cam.sensor_width_mm, 3), round(cam.sensor_height_mm, 3)],
            "focal_mm": round(cam.focal_length_mm, 3),
        },
        "footprint": {
            "type": "Polygon",
            "coordinates": [[[round(lon, 7), round(lat, 7)] for lon, lat in fp.polygon]],
        },
        "gsd_cm": round(fp.gsd_m * 100, 2),
        "detections": [
            {
                "label": d.label,
                "score": d.score,
                "box": [round(v, 4) for v in d.box],
                "lon": round(d.lon, 7),
                "lat": round(d.lat, 7),
            }
            for d in found
        ],
    }


def _print_text(row: dict[str, Any], out: IO[str]) -> None:
    def f(v: Any, unit: str = "") -> str:
        return "—" if v is None else f"{v}{unit}"

    out.write(f"{row['file']}\n")
    out.write(f"  taken at   {f(row['taken_at'])}\n")
    out.write(f"  position   {row['lat']:.7f}, {row['lon']:.7f} (lat, lon WGS-84)\n")
    out.write(
        f"  altitude   {row['alt_m']} m above ground ({row['alt_source']}); MSL {f(row['alt_msl_m'], ' m')}\n"
    )
    out.write(
        f"  heading    {f(row['heading'], '°')} ({row['heading_source'] or 'unknown: north assumed'})\n"
    )
    out.write(f"  gimbal     pitch {f(row['gimbal_pitch'], '°')} roll {f(row['gimbal_roll'], '°')}\n")
    out.write(f"  GSD        {row['gsd_cm']} cm/px\n")
    corners = " ".join(f"({lon:.6f},{lat:.6f})" for lon, lat in row["footprint"]["coordinates"][0][:-1])
    out.write(f"  footprint  {corners}\n")
    out.write(f"  detections {len(row['detections'])}\n")
    for d in row["detections"]:
        out.write(f"    {d['label']:<12} {d['score']:.2f} at {d['lat']:.7f}, {d['lon']:.7f}\n")


def cli_photo(argv: list[str], out: IO[str] = sys.stdout, err: IO[str] = sys.stderr) -> int:
    """`shequ drone photo FILE... [--json] [--ground M] [--detector ssd|onnx:PATH|none]`: exit 0 when
    every photo was read, 1 when any failed (the others are still printed), 2 for bad arguments."""
    parser = argparse.ArgumentParser(
        prog="shequ drone photo",
        description="Position, altitude, heading, gimbal, ground footprint and detections of drone photos.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE")
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    parser.add_argument(
        "--ground", type=float, metavar="M", help="ground elevation in metres above sea level"
    )
    parser.add_argument("--detector", default="ssd", help="ssd (default), onnx:PATH or none")
    parser.add_argument(
        "--tile",
        type=int,
        default=0,
        metavar="PX",
        help="detect on square tiles of PX pixels overlapping by a fifth (0: the whole photo)",
    )
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return 2 if exc.code else 0
    if args.ground is not None and not math.isfinite(args.ground):
        err.write("--ground: 需要一个有限的数字（米）\n")
        return 2
    if args.tile < 0:
        err.write("--tile: 需要 0 或正整数（像素）\n")
        return 2
    detector: Detector | None = None
    if args.detector != "none":
        try:
            detector = load_detector(args.detector)
        except (ValueError, FileNotFoundError, OSError) as exc:
            err.write(f"--detector: {exc}\n")
            return 2

    errors: dict[int, PhotoError] = {}
    read: list[tuple[int, bytes, PhotoMeta]] = []
    for i, path in enumerate(args.files):
        try:
            with open(path, "rb") as fh:
                data = fh.read()
            read.append((i, data, read_photo(data, name=path, ground_elevation_m=args.ground)))
        except OSError as exc:
            errors[i] = PhotoError("photo", f"{path}：无法读取文件（{exc.strerror or exc}）")
        except PhotoError as exc:
            errors[i] = exc
    # Photos without a recorded heading take it from the flight line through the given photos.
    metas = headings_from_track([m for _, _, m in read])
    rows: dict[int, dict[str, Any]] = {}
    for (i, data, _), meta in zip(read, metas, strict=True):
        path = args.files[i]
        try:
            fp = footprint(meta)
            found: list[GroundDetection] = []
            if detector is not None:
                image = _decode(data, path, DEFAULT_MAX_PIXELS)
                try:
                    found = project_detections(fp, detect_tiled(to_bgr(image), detector, args.tile))
                finally:
                    image.close()
            rows[i] = photo_json(path, meta, fp, found)
        except PhotoError as exc:
            errors[i] = exc

    results: list[dict[str, Any]] = []
    for i, path in enumerate(args.files):
        if i in rows:
            results.append(rows[i])
        else:
            e = errors[i]
            results.append({"file": path, "error": {"field": e.field, "message": e.message}})
            err.write(f"{path}: error ({e.field}): {e.message}\n")
    if args.json:
        json.dump(results, out, ensure_ascii=False, indent=2)
        out.write("\n")
    else:
        for row in results:
            if "error" not in row:
                _print_text(row, out)
    return 1 if errors else 0
