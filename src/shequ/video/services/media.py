"""The images and clips of cameras: checked before they are stored, blurred before they are shown
outside the command center (ARCHITECTURE §7).

A snapshot must decode as a real JPEG or PNG (kept as JPEG); a clip must be an MP4 or WebM of
bounded size (its frames are not decoded here: the engine that made it did, and a clip is shown only
to the command center). Blurring is the engine's (`shequ_vision.privacy.blur_jpeg`); when it fails
the image is pixelated as a whole rather than shown unblurred (fail closed).
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, ImageFilter, UnidentifiedImageError

from shequ.core.errors import Invalid

log = logging.getLogger(__name__)

SNAPSHOT_MAX_BYTES = 8 * 1024 * 1024  # a 4K JPEG is ~2 MB; a frame far above that is not a frame
SNAPSHOT_MAX_PIXELS = 40_000_000  # 8K is 33 MP
CLIP_MAX_BYTES = 32 * 1024 * 1024  # 30 s of a sub stream at 4 Mbit/s is 15 MB
JPEG_QUALITY = 85


@dataclass(frozen=True)
class Snapshot:
    """A snapshot that decoded: its JPEG bytes (converted if it came as PNG) and size."""

    data: bytes
    width: int
    height: int


def check_snapshot(data: object, *, field: str = "snapshot") -> Snapshot:
    """Decode an image fully (JPEG or PNG) and return it as JPEG; Invalid when it is not one."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise Invalid("抓拍应为图片文件的字节", field=field)
    raw = bytes(data)
    if not raw:
        raise Invalid("抓拍是空文件", field=field)
    if len(raw) > SNAPSHOT_MAX_BYTES:
        raise Invalid(f"抓拍过大(最大 {SNAPSHOT_MAX_BYTES // (1024 * 1024)} MB)", field=field)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(raw), formats=["JPEG", "PNG"]) as image:
                if image.width * image.height > SNAPSHOT_MAX_PIXELS:
                    raise Invalid(f"抓拍像素过多({image.width}×{image.height})", field=field)
                image.load()  # every pixel: a truncated or corrupt file fails here
                fmt, width, height = image.format, image.width, image.height
                if fmt != "JPEG":
                    out = io.BytesIO()
                    image.convert("RGB").save(out, "JPEG", quality=JPEG_QUALITY)
                    raw = out.getvalue()
    except Invalid:
        raise
    except UnidentifiedImageError:
        raise Invalid("抓拍不是 JPEG 或 PNG 图片", field=field) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise Invalid("抓拍像素过多", field=field) from None
    except (OSError, ValueError, SyntaxError, EOFError):
        raise Invalid("抓拍文件已损坏或不完整", field=field) from None
    return Snapshot(raw, width, height)


def clip_extension(data: object, *, field: str = "clip") -> tuple[bytes, str]:
    """An MP4 (ISO BMFF: an `ftyp` box first) or WebM (EBML header) of at most CLIP_MAX_BYTES, and
    its file extension; Invalid otherwise."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise Invalid("短视频应为视频文件的字节", field=field)
    raw = bytes(data)
    if not raw:
        raise Invalid("短视频是空文件", field=field)
    if len(raw) > CLIP_MAX_BYTES:
        raise Invalid(f"短视频过大(最大 {CLIP_MAX_BYTES // (1024 * 1024)} MB)", field=field)
    if len(raw) >= 12 and raw[4:8] == b"ftyp":
        return raw, "mp4"
    if raw.startswith(b"\x1a\x45\xdf\xa3"):
        return raw, "webm"
    raise Invalid("短视频不是 MP4 或 WebM 文件", field=field)


def clip_content_type(name: str | None) -> str:
    return "video/webm" if (name or "").endswith(".webm") else "video/mp4"


def blur(data: bytes, *, label: str = "", box: Sequence[float] = ()) -> bytes:
    """Faces and number plates blurred (the engine's privacy filter, which finds people and
    vehicles itself; an alert's own `label` and `box` are added to what it finds); if that fails
    for any reason, the whole image pixelated: an unblurred image never leaves the command center."""
    try:
        from shequ_vision.detect import Detection
        from shequ_vision.privacy import blur_jpeg

        known = [Detection(label, 1.0, tuple(box))] if label and len(box) == 4 else None  # type: ignore[arg-type]
        out = blur_jpeg(data, detections=known)
        if isinstance(out, bytes) and out:
            return out
        raise ValueError("blur_jpeg returned nothing")
    except Exception:
        log.exception("privacy blur failed; the image is pixelated as a whole")
        return pixelate(data)


def pixelate(data: bytes) -> bytes:
    """The whole image reduced to coarse blocks and blurred: recognisable as a scene, no face or
    plate legible. A grey square when the data is no image at all."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            rgb = image.convert("RGB")
    except (OSError, ValueError, SyntaxError, EOFError, UnidentifiedImageError):
        rgb = Image.new("RGB", (320, 180), (128, 128, 128))
    width, height = rgb.size
    small = rgb.resize((max(1, width // 24), max(1, height // 24)), Image.Resampling.BILINEAR)
    coarse = small.resize((width, height), Image.Resampling.NEAREST).filter(ImageFilter.GaussianBlur(4))
    out = io.BytesIO()
    coarse.save(out, "JPEG", quality=JPEG_QUALITY)
    return out.getvalue()
