"""Aerial photos (航拍照片): uploaded or dropped in a watched folder, placed on the ground, analysed
into findings (docs/drones.md, "Photos and findings").

- `ingest_photos` judges each file on its own: a file that is not an image, has no GPS, an absurd
  altitude, is truncated, too big or a decompression bomb is rejected with the field and a Chinese
  message, and the others go on. A rejected file leaves no row and no stored file. A file already
  stored (same SHA-256) is a duplicate naming the existing photo. The camera is the drone's
  registered optics (fleet.camera_of), else what EXIF says; the ground elevation is the drone's
  dock's; headings missing from the metadata come from the track of the batch (time order).
- The upload answers at once: the new photos are analysed by a job (core.jobs, "drones.analyse"),
  whose progress a page polls at /api/jobs/<id>/.
- `analyse_photo`: the detector (SHEQU_VISION_DETECTOR) runs on overlapping tiles of the photo
  (from 100 m a person is a few pixels: a detector that scales the whole photo down to its 300-px
  input would see nothing), detections are projected to the ground and grouped into findings
  (services.findings), and the photo is compared with an earlier patrol's photo of the same place
  (shequ_vision.change) for new objects. Analysing a photo again adds no finding twice.
- `scan_inbox` / `watch_main`: a watched folder; each settled file is ingested once and moved to
  done/ or rejected/ (with a .txt saying why).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import cv2
import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from shapely.geometry import shape

from shequ.core.audit import audit
from shequ.core.errors import Forbidden, Invalid
from shequ.core.geo import local_projection
from shequ.core.jobs import Progress, job_runner, start_job
from shequ.core.models import Job
from shequ.drones.models import Drone, Finding, Flight, Photo, PhotoState
from shequ.drones.selectors import may_manage
from shequ.drones.services import findings
from shequ.grids.index import locate
from shequ_vision.detect import Detector

log = logging.getLogger(__name__)

SYSTEM = "drones"
JOB_KIND = "drones.analyse"
MIB = 1024 * 1024
NAME_MAX = 200
CHANGE_CANDIDATES = 20  # earlier photos looked at for the best overlap


@dataclass
class FileResult:
    """What became of one file: "ok" (stored: `photo`), "duplicate" (`photo` is the one already
    stored) or "rejected" (`field` and `message` say why)."""

    name: str
    status: str
    photo: int | None = None
    field: str = ""
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "status": self.status}
        if self.photo is not None:
            out["photo"] = self.photo
        if self.status == "rejected":
            out["field"], out["message"] = self.field, self.message
        return out


@dataclass
class BatchReport:
    results: list[FileResult] = field(default_factory=list)
    job: int | None = None  # the analysis job of the new photos

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def new_photos(self) -> list[int]:
        return [r.photo for r in self.results if r.status == "ok" and r.photo is not None]

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.count("ok"),
            "duplicate": self.count("duplicate"),
            "rejected": self.count("rejected"),
            "job": self.job,
            "files": [r.as_dict() for r in self.results],
        }


class _Rejected(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


def _clean_name(raw: Any, index: int) -> str:
    name = Path(str(raw or "").replace("\\", "/").replace("\x00", "")).name.strip()
    return (name or f"photo-{index}.jpg")[:NAME_MAX]


def _size_of(source: Any) -> int | None:
    if isinstance(source, bytes | bytearray | memoryview):
        return len(source)
    if isinstance(source, Path):
        return source.stat().st_size
    size = getattr(source, "size", None)
    return size if isinstance(size, int) else None


def _bytes_of(source: Any) -> bytes:
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source)
    if isinstance(source, Path):
        return source.read_bytes()
    if hasattr(source, "seek"):
        source.seek(0)
    return bytes(source.read())


def camera_for(drone: Drone | None) -> Any:
    """The drone's registered camera (None without a drone: EXIF then says)."""
    if drone is None:
        return None
    from shequ.drones.services.fleet import camera_of

    try:
        return camera_of(drone)
    except ValueError:  # optics not sane: EXIF's are better than none
        return None


def _ground_of(drone: Drone | None) -> float | None:
    dock = drone.dock if drone is not None else None
    return dock.elevation_m if dock is not None else None


def _read_meta(data: bytes, name: str, drone: Drone | None) -> Any:
    from shequ_vision.aerial import PhotoError, read_photo

    try:
        return read_photo(
            data,
            name=name,
            ground_elevation_m=_ground_of(drone),
            camera=camera_for(drone),
            max_pixels=settings.DRONE_PHOTO_MAX_PIXELS,
        )
    except PhotoError as exc:
        raise _Rejected(exc.field, exc.message) from None
    except Exception:  # a reader bug must not take the batch down; the file is refused
        log.exception("reading drone photo %s failed", name)
        raise _Rejected("photo", _("%(name)s：无法读取照片") % {"name": name}) from None


def _check_batch(
    actor: Any, files: Sequence[Any], flight: Flight | None, drone: Drone | None
) -> Drone | None:
    if not isinstance(actor, str) and not may_manage(actor):
        raise Forbidden(_("只有指挥中心坐席和系统管理员可以上传航拍照片"))
    if not files:
        raise Invalid(_("请选择要上传的照片"), field="files")
    limit = settings.DRONE_UPLOAD_MAX_FILES
    if len(files) > limit:
        raise Invalid(_("一次最多上传 %(n)d 张照片") % {"n": limit}, field="files")
    if flight is not None:
        if drone is not None and flight.drone_id != drone.pk:
            raise Invalid(_("所选无人机不是该架次的无人机"), field="drone")
        drone = flight.drone
    return drone


def ingest_photos(
    *, actor: Any, files: Sequence[tuple[Any, Any]], flight: Flight | None = None, drone: Drone | None = None
) -> BatchReport:
    """Store each acceptable photo of a batch; `files` are (name, bytes | uploaded file | Path).
    Returns the report per file (in the order given) and the analysis job of the new photos."""
    drone = _check_batch(actor, files, flight, drone)
    max_bytes = settings.DRONE_PHOTO_MAX_MB * MIB
    report = BatchReport()
    accepted: list[tuple[int, str, str, Any, Any]] = []  # (index, name, sha256, source, meta)
    seen: dict[str, int] = {}  # sha256 -> index of the first file of the batch with it
    copies: list[tuple[int, int]] = []  # (index, index of its first copy)
    for index, (raw_name, source) in enumerate(files):
        name = _clean_name(raw_name, index + 1)
        result = FileResult(name=name, status="rejected")
        report.results.append(result)
        try:
            size = _size_of(source)
            if size is not None and size > max_bytes:
                raise _Rejected(
                    "photo",
                    _("%(name)s：文件过大（%(size).1f MB，上限 %(max)d MB）")
                    % {"name": name, "size": size / MIB, "max": settings.DRONE_PHOTO_MAX_MB},
                )
            data = _bytes_of(source)
            if len(data) > max_bytes:  # a size that lied
                raise _Rejected("photo", _("%(name)s：文件过大") % {"name": name})
            sha = hashlib.sha256(data).hexdigest()
            if sha in seen:  # the same file twice in one batch: judged as its first copy
                copies.append((index, seen[sha]))
                continue
            existing = Photo.objects.filter(sha256=sha).values_list("pk", flat=True).first()
            if existing is not None:
                result.status, result.photo = "duplicate", existing
                continue
            seen[sha] = index
            meta = _read_meta(data, name, drone)
            accepted.append((index, name, sha, source, meta))
        except _Rejected as exc:
            result.field, result.message = exc.field, exc.message
        except OSError:
            result.field, result.message = "photo", _("%(name)s：读取上传文件失败") % {"name": name}

    _store_all(report, accepted, actor=actor, flight=flight, drone=drone)
    for index, first_index in copies:
        first, copy = report.results[first_index], report.results[index]
        if first.status == "rejected":
            copy.field, copy.message = first.field, first.message
        else:
            copy.status, copy.photo = "duplicate", first.photo
    if report.new_photos:
        report.job = start_job(JOB_KIND, actor=actor, params={"photos": report.new_photos}).pk
    audit(
        "drones.photos_upload",
        actor=actor,
        target=flight,
        drone=drone.code if drone else None,
        ok=report.count("ok"),
        duplicate=report.count("duplicate"),
        rejected=report.count("rejected"),
    )
    return report


def _store_all(
    report: BatchReport,
    accepted: list[tuple[int, str, str, Any, Any]],
    *,
    actor: Any,
    flight: Flight | None,
    drone: Drone | None,
) -> None:
    from shequ_vision.aerial import PhotoError, footprint, headings_from_track

    metas = headings_from_track([a[4] for a in accepted])
    for (index, name, sha, source, _meta), meta in zip(accepted, metas, strict=True):
        result = report.results[index]
        try:
            fp = footprint(meta)
        except PhotoError as exc:
            result.field, result.message = exc.field, f"{name}：{exc.message}"
            continue
        centre = shape(fp.geojson()).centroid
        photo = Photo(
            flight=flight,
            drone=drone,
            name=name,
            sha256=sha,
            width=meta.width,
            height=meta.height,
            taken_at=meta.taken_at,
            lon=meta.lon,
            lat=meta.lat,
            alt_m=round(meta.alt_m, 2),
            alt_source=meta.alt_source,
            heading=None if meta.heading is None else round(meta.heading, 2),
            heading_source=meta.heading_source,
            gimbal_pitch=meta.gimbal_pitch,
            gimbal_roll=meta.gimbal_roll,
            footprint=fp.geojson(),
            gsd_cm=round(fp.gsd_m * 100, 2),
            grid_id=locate(centre.x, centre.y),
            uploaded_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        stored = ""
        try:
            with transaction.atomic():
                photo.image.save(name, ContentFile(_bytes_of(source)), save=False)
                stored = str(photo.image.name)
                photo.save()
            result.status, result.photo = "ok", photo.pk
        except IntegrityError:  # stored meanwhile by another upload of the same file
            default_storage.delete(stored)
            result.status = "duplicate"
            result.photo = Photo.objects.filter(sha256=sha).values_list("pk", flat=True).first()
        except BaseException:
            if stored:
                default_storage.delete(stored)
            raise


def upload_status(report: BatchReport) -> int:
    """The HTTP status of an upload: 201 all new, 200 nothing new but nothing refused (all
    duplicates, or new and duplicates), 207 some refused and some taken, 422 all refused."""
    rejected, total = report.count("rejected"), len(report.results)
    if rejected == total:
        return 422
    if rejected:
        return 207
    return 201 if report.count("ok") == total else 200


# --- analysis --------------------------------------------------------------------------------------

_detector: Detector | None = None


def detector() -> Detector:
    """The process's detector (SHEQU_VISION_DETECTOR), loaded once."""
    global _detector
    if _detector is None:
        from shequ_vision.detect import load_detector

        _detector = load_detector(settings.VISION_DETECTOR)
    return _detector


def _load(photo: Photo) -> tuple[bytes, Any, Any]:
    """The photo's bytes, footprint (from the stored pose: a heading from the track is kept) and
    its upright BGR image, from one decode."""
    from shequ_vision.aerial import footprint, read_photo_bgr

    with photo.image.open("rb") as f:
        data = bytes(f.read())
    meta, bgr = read_photo_bgr(
        data,
        name=photo.name,
        camera=camera_for(photo.drone),
        max_pixels=settings.DRONE_PHOTO_MAX_PIXELS,
        altitude_m=photo.alt_m,
        heading=photo.heading,
    )
    return data, footprint(meta), bgr


def earlier_photo(photo: Photo) -> tuple[Photo, float] | None:
    """The latest photo of an earlier patrol (taken at least DRONE_CHANGE_MIN_GAP_MINUTES before)
    whose footprint covers at least DRONE_CHANGE_MIN_OVERLAP of this one's, with that share.
    Photos without a time are not compared (which was earlier cannot be told)."""
    if photo.taken_at is None or not photo.footprint:
        return None
    here = shape(photo.footprint)
    minx, miny, maxx, maxy = here.bounds
    before = photo.taken_at - dt.timedelta(minutes=settings.DRONE_CHANGE_MIN_GAP_MINUTES)
    candidates = (
        Photo.objects.filter(
            taken_at__lte=before,
            lon__gte=minx - (maxx - minx),
            lon__lte=maxx + (maxx - minx),
            lat__gte=miny - (maxy - miny),
            lat__lte=maxy + (maxy - miny),
        )
        .exclude(pk=photo.pk)
        .exclude(footprint__isnull=True)
        .order_by("-taken_at", "-pk")[:CHANGE_CANDIDATES]
    )
    local = local_projection(photo.lon, photo.lat)
    mine = local.to_local(here)
    if mine.area <= 0:
        return None
    for other in candidates:
        try:
            share = mine.intersection(local.to_local(shape(other.footprint))).area / mine.area
        except (ValueError, TypeError):  # a stored footprint that is no polygon
            continue
        if share >= settings.DRONE_CHANGE_MIN_OVERLAP:
            return other, share
    return None


def _changes(photo: Photo, image: np.ndarray, fp: Any) -> list[findings.Candidate]:
    """CHANGE candidates against the earlier patrol's photo of the same place. A pair that cannot be
    compared (the earlier file gone, no registration) gives none: the photo's detections still count."""
    from shequ_vision.aerial import PhotoError
    from shequ_vision.change import compare

    found = earlier_photo(photo)
    if found is None:
        return []
    earlier, _share = found
    try:
        _data, before_fp, before = _load(earlier)
        changes = compare(before, before_fp, image, fp)
    except (PhotoError, OSError, ValueError) as exc:
        reason = exc.message if isinstance(exc, PhotoError) else f"{type(exc).__name__}: {exc}"
        log.info("drone photo %s not compared with %s: %s", photo.pk, earlier.pk, reason)
        return []
    return findings.change_candidates(changes, earlier)


def analyse_photo(photo: Photo, *, det: Detector | None = None) -> list[Finding]:
    """Detect, project, group and compare one photo; record its new findings. The photo ends
    ANALYSED (or FAILED with the reason). Returns the findings added by this run."""
    from shequ_vision.aerial import PhotoError, detect_tiled, project_detections

    try:
        _data, fp, image = _load(photo)
        detections = detect_tiled(image, det or detector(), settings.DRONE_DETECT_TILE_PX)
        candidates = findings.group_detections(project_detections(fp, detections))
        candidates += _changes(photo, image, fp)
        added = findings.raise_findings(photo, candidates, image)
    except (PhotoError, OSError, ValueError) as exc:
        message = exc.message if isinstance(exc, PhotoError) else f"{type(exc).__name__}: {exc}"
        log.warning("analysis of drone photo %s failed: %s", photo.pk, message)
        Photo.objects.filter(pk=photo.pk).update(
            state=PhotoState.FAILED,
            error=message[:300],
            analysed_at=timezone.now(),
            updated_at=timezone.now(),
        )
        return []
    Photo.objects.filter(pk=photo.pk).update(
        state=PhotoState.ANALYSED, error="", analysed_at=timezone.now(), updated_at=timezone.now()
    )
    return added


@job_runner(JOB_KIND)
def run_analysis(job: Job, progress: Progress) -> dict[str, Any]:
    """The analysis of an upload's photos, one by one (by time taken: an earlier photo of the same
    batch is there to be compared with)."""
    ids = [int(i) for i in job.params.get("photos", [])]
    photos = list(Photo.objects.filter(pk__in=ids).select_related("drone").order_by("taken_at", "pk"))
    progress(0, len(photos), _("分析中"), force=True)
    added = failed = 0
    for done, photo in enumerate(photos, start=1):
        added += len(analyse_photo(photo))
        photo.refresh_from_db(fields=["state"])
        failed += photo.state == PhotoState.FAILED
        progress(done, len(photos))
    message = _("已分析 %(n)d 张照片，新发现 %(f)d 处") % {"n": len(photos), "f": added}
    return {"photos": len(photos), "failed": failed, "findings": added, "message": message}


# --- privacy -------------------------------------------------------------------------------------

# The Haar cascades of the privacy filter look for faces and plates of 16 px or more: coarser than
# this ground resolution a 20 cm face is smaller than that, so they cannot find one (and take over a
# minute on a 12-megapixel photo). Such photos are blurred by the people and vehicles the detector
# finds on tiles instead; a finer photo (a low pass) gets the whole filter.
CASCADE_GSD_CM = 1.25


def blur_aerial(data: bytes, *, det: Detector | None = None) -> bytes:
    """A whole aerial photo as shown outside the command center, as JPEG: every person and vehicle
    the privacy detector (lower threshold than alerting) finds on tiles obscured as a whole box.
    Fails closed: on any error, or with no detector, the whole photo pixelated."""
    from shequ.video.services import media
    from shequ_vision import privacy
    from shequ_vision.aerial import detect_tiled

    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)  # upright by EXIF
        det = det or privacy.default_detector()
        if image is None or det is None:
            raise ValueError("no image or no privacy detector")
        found = detect_tiled(image, det, settings.DRONE_DETECT_TILE_PX)
        ok, encoded = cv2.imencode(
            ".jpg", privacy.blur_from_above(image, found), [cv2.IMWRITE_JPEG_QUALITY, 85]
        )
        if not ok:
            raise ValueError("encoding failed")
        return bytes(encoded.tobytes())
    except Exception:
        log.exception("privacy blur of an aerial photo failed; the photo is pixelated as a whole")
        return media.pixelate(data)


# --- the watched folder ----------------------------------------------------------------------------


def _settled(path: Path, now: float) -> bool:
    """Written completely, as far as can be told: not modified for DRONE_INBOX_SETTLE_SECONDS."""
    try:
        return now - path.stat().st_mtime >= settings.DRONE_INBOX_SETTLE_SECONDS
    except OSError:
        return False


def _move(path: Path, folder: Path, note: str = "") -> None:
    folder.mkdir(exist_ok=True)
    target = folder / path.name
    n = 1
    while target.exists():
        target = folder / f"{path.stem}-{n}{path.suffix}"
        n += 1
    try:
        path.rename(target)
    except FileNotFoundError:  # another watcher took it
        return
    if note:
        target.with_name(target.name + ".txt").write_text(note + "\n", encoding="utf-8")


def scan_inbox(folder: Path, *, drone: Drone | None = None) -> dict[str, int]:
    """One pass over a watched folder: each settled file is ingested (as the platform) and moved to
    done/ (stored or already there) or rejected/ with NAME.txt saying why. Files still being
    written are left for the next pass; hidden files and sub-folders are ignored."""
    now = time.time()
    ready = sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and not p.name.endswith(".txt") and _settled(p, now)
    )[: settings.DRONE_UPLOAD_MAX_FILES]
    counts = {"ok": 0, "duplicate": 0, "rejected": 0}
    if not ready:
        return counts
    report = ingest_photos(actor=SYSTEM, files=[(p.name, p) for p in ready], drone=drone)
    for path, result in zip(ready, report.results, strict=True):
        counts[result.status] += 1
        if result.status == "rejected":
            _move(path, folder / "rejected", f"{result.field}: {result.message}")
        else:
            _move(path, folder / "done")
    return counts


def scan_configured_inbox() -> dict[str, int] | None:
    """The pass of the periodic task over SHEQU_DRONE_INBOX (None when none is set)."""
    inbox = settings.DRONE_INBOX
    if not inbox:
        return None
    folder = Path(inbox)
    if not folder.is_dir():
        log.warning("SHEQU_DRONE_INBOX %s is not a folder", folder)
        return None
    return scan_inbox(folder)


def watch_main(argv: Sequence[str], out: IO[str] = sys.stdout, err: IO[str] = sys.stderr) -> int:
    """`shequ drone watch DIR [--drone CODE] [--once] [--interval S]`: ingest photos dropped in DIR."""
    parser = argparse.ArgumentParser(prog="shequ drone watch", description="监视文件夹, 导入航拍照片")
    parser.add_argument("folder", help="照片文件夹 (处理后移入 done/ 或 rejected/)")
    parser.add_argument("--drone", help="无人机编号 (相机参数、机巢海拔)")
    parser.add_argument("--once", action="store_true", help="只处理一遍")
    parser.add_argument("--interval", type=float, default=10.0, help="两遍之间的秒数")
    args = parser.parse_args(list(argv))
    folder = Path(args.folder)
    if not folder.is_dir():
        print(f"不是文件夹: {folder}", file=err)
        return 2
    drone = None
    if args.drone:
        drone = Drone.objects.filter(code=args.drone).select_related("dock").first()
        if drone is None:
            print(f"没有编号为 {args.drone} 的无人机", file=err)
            return 2
    while True:
        counts = scan_inbox(folder, drone=drone)
        if any(counts.values()):
            print(
                f"导入 {counts['ok']} 张, 重复 {counts['duplicate']} 张, 拒收 {counts['rejected']} 张",
                file=out,
            )
        if args.once:
            return 0
        time.sleep(max(1.0, args.interval))
