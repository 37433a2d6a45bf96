"""Aerial photos in: the real DJI photos land with their position, pose, footprint and grid; a
malformed batch is refused file by file with clear messages while the good ones land; nothing of a
refused file is stored; a second upload of the same photo is a duplicate; the analysis job finds
and places objects; the watched folder ingests each file once."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from shapely.geometry import Point, shape

from shequ.core import jobs
from shequ.core.errors import Forbidden, Invalid
from shequ.core.models import Job
from shequ.drones.models import Finding, FindingKind, Photo, PhotoState
from shequ.drones.services import photos
from shequ_vision.detect import Detection
from tests.drones.conftest import PHOTO_LAT, PHOTO_LON, bomb_png, gps_jpeg, stored_files


def test_real_photos_land_with_pose_footprint_and_grid(
    operator: Any,
    drone: Any,
    grids: Any,
    dji_0061: bytes,
    dji_0062: bytes,
    drone_media: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        report = photos.ingest_photos(
            actor=operator, files=[("DJI_0062.JPG", dji_0062), ("DJI_0061.JPG", dji_0061)], drone=drone
        )
    assert [r.status for r in report.results] == ["ok", "ok"], report.as_dict()
    assert photos.upload_status(report) == 201 and report.job is not None
    first = Photo.objects.get(name="DJI_0061.JPG")
    second = Photo.objects.get(name="DJI_0062.JPG")
    assert abs(first.lon - PHOTO_LON) < 1e-5 and abs(first.lat - PHOTO_LAT) < 1e-5
    assert (first.width, first.height) == (2400, 1800) and first.drone == drone
    # No DJI XMP and no ground elevation at the dock: the GPS altitude is the height above ground.
    assert first.alt_source == "gps_assumed_agl" and first.alt_m == 119.7
    # No heading in the photos: it comes from the track of the batch (the drone flew west).
    assert first.heading_source == "track" and 260 < first.heading < 285
    footprint = shape(first.footprint)
    assert footprint.contains(Point(first.lon, first.lat))
    assert first.grid == grids["grid1"] and first.state == PhotoState.NEW
    assert first.gsd_cm and 1 < first.gsd_cm < 30
    assert len(stored_files(drone_media)) == 2
    job = Job.objects.get(pk=report.job)
    assert job.kind == photos.JOB_KIND and sorted(job.params["photos"]) == sorted([first.pk, second.pk])


def test_malformed_batch_refused_file_by_file(
    operator: Any,
    drone: Any,
    grids: Any,
    dji_0061: bytes,
    drone_media: Path,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.DRONE_PHOTO_MAX_MB = 3
    big = gps_jpeg(size=(2600, 1950), seed=3)
    assert len(big) > 3 * 1024 * 1024
    batch = [
        ("notes.txt", b"this is not an image"),
        ("empty.jpg", b""),
        ("fake.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 500),
        ("nogps.jpg", gps_jpeg(gps=False)),
        ("high.jpg", gps_jpeg(altitude=25000.0)),
        ("truncated.jpg", dji_0061[: len(dji_0061) // 2]),
        ("bomb.png", bomb_png()),
        ("big.jpg", big),
        ("DJI_0061.JPG", dji_0061),
        ("../../etc/passwd", gps_jpeg(seed=9)),
    ]
    with django_capture_on_commit_callbacks(execute=False):
        report = photos.ingest_photos(actor=operator, files=batch, drone=drone)
    by_name = {r.name: r for r in report.results}
    assert [r.name for r in report.results][-1] == "passwd"  # no path survives in a name
    assert by_name["DJI_0061.JPG"].status == "ok"
    assert by_name["passwd"].status == "ok"
    for name, field, words in [
        ("notes.txt", "photo", "不是可识别的图片"),
        ("empty.jpg", "photo", "空"),
        ("fake.jpg", "photo", ""),
        ("nogps.jpg", "gps", "GPS"),
        ("high.jpg", "altitude", "高度"),
        ("truncated.jpg", "photo", "损坏或不完整"),
        ("bomb.png", "photo", ""),
        ("big.jpg", "photo", "过大"),
    ]:
        result = by_name[name]
        assert result.status == "rejected", (name, result)
        assert result.field == field and words in result.message, (name, result)
        assert name in result.message or name == "empty.jpg"  # the message names the file
    assert photos.upload_status(report) == 207
    # Nothing of a refused file was written: two rows, two files.
    assert Photo.objects.count() == 2 and len(stored_files(drone_media)) == 2


def test_duplicates_name_the_photo_already_stored(
    operator: Any,
    drone: Any,
    grids: Any,
    dji_0061: bytes,
    drone_media: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        first = photos.ingest_photos(actor=operator, files=[("a.jpg", dji_0061), ("b.jpg", dji_0061)])
        again = photos.ingest_photos(actor=operator, files=[("c.jpg", dji_0061)], drone=drone)
    pk = first.results[0].photo
    assert [r.status for r in first.results] == ["ok", "duplicate"] and first.results[1].photo == pk
    assert again.results[0].status == "duplicate" and again.results[0].photo == pk
    assert photos.upload_status(again) == 200 and again.job is None
    assert Photo.objects.count() == 1 and len(stored_files(drone_media)) == 1


def test_all_refused_is_422_and_who_may_upload(
    operator: Any, leader: Any, grid_worker: Any, grids: Any
) -> None:
    report = photos.ingest_photos(actor=operator, files=[("x.jpg", b"nope")])
    assert photos.upload_status(report) == 422 and report.job is None
    for user in (leader, grid_worker):
        with pytest.raises(Forbidden):
            photos.ingest_photos(actor=user, files=[("x.jpg", b"nope")])
    with pytest.raises(Invalid):
        photos.ingest_photos(actor=operator, files=[])


def test_without_a_drone_the_camera_comes_from_exif(operator: Any, grids: Any, dji_0061: bytes) -> None:
    report = photos.ingest_photos(actor=operator, files=[("DJI_0061.JPG", dji_0061)])
    assert report.results[0].status == "ok"
    photo = Photo.objects.get()
    assert photo.drone is None and photo.footprint and photo.grid == grids["grid1"]


class People:
    """A detector that sees a crowd of six people near the image's bottom (east) edge and one
    person alone in the middle: scripted boxes, so that grouping and projection are checked
    exactly. Boxes are in fractions of what it is given (a tile)."""

    name = "scripted"

    def __init__(self) -> None:
        self.calls = 0

    def detect(self, image: np.ndarray) -> list[Detection]:
        self.calls += 1
        return [Detection("person", 0.9, (0.45, 0.45, 0.47, 0.47))]


class Crowd:
    """Six people around the image point (0.5, 0.93) (east of the grid boundary) and one alone
    at the centre, given on the whole photo."""

    name = "crowd"

    def detect(self, image: np.ndarray) -> list[Detection]:
        found = [Detection("person", 0.8, (0.5, 0.5, 0.505, 0.505))]
        for i in range(6):
            x = 0.48 + i * 0.006
            found.append(Detection("person", 0.7 + i * 0.01, (x, 0.92, x + 0.004, 0.935)))
        found.append(Detection("car", 0.9, (0.2, 0.2, 0.25, 0.24)))
        return found


def test_analysis_raises_a_crowd_in_the_right_grid_once(
    operator: Any,
    drone: Any,
    grids: Any,
    dji_0061: bytes,
    dji_0062: bytes,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.DRONE_DETECT_TILE_PX = 0
    with django_capture_on_commit_callbacks(execute=False):  # the pair: headings from the track
        files = [("DJI_0061.JPG", dji_0061), ("DJI_0062.JPG", dji_0062)]
        photos.ingest_photos(actor=operator, files=files, drone=drone)
    photo = Photo.objects.get(name="DJI_0061.JPG")
    added = photos.analyse_photo(photo, det=Crowd())
    photo.refresh_from_db()
    assert photo.state == PhotoState.ANALYSED and photo.analysed_at
    assert [f.kind for f in added] == [FindingKind.CROWD]  # one person alone and a car: no finding
    crowd = added[0]
    assert crowd.count == 6 and crowd.grid == grids["grid2"]  # the bottom of the photo faces east
    assert crowd.crop and Image.open(crowd.crop.open("rb")).format == "JPEG"
    assert shape(photo.footprint).contains(Point(crowd.lon, crowd.lat))
    # Analysing again adds nothing.
    assert photos.analyse_photo(photo, det=Crowd()) == []
    assert Finding.objects.count() == 1


def test_analysis_job_with_the_real_detector(
    operator: Any, drone: Any, grids: Any, dji_0061: bytes, django_capture_on_commit_callbacks: Any
) -> None:
    from shequ_vision.detect import ssd_model_files

    try:
        ssd_model_files()
    except FileNotFoundError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"SSD model missing: {exc}")
        pytest.skip(f"SSD model missing: {exc}")
    with django_capture_on_commit_callbacks(execute=False):
        report = photos.ingest_photos(actor=operator, files=[("DJI_0061.JPG", dji_0061)], drone=drone)
    assert report.job is not None
    jobs.run(report.job)
    job = Job.objects.get(pk=report.job)
    assert job.status == Job.Status.SUCCEEDED, job.message
    assert job.report["photos"] == 1 and job.report["failed"] == 0 and job.done == 1
    assert Photo.objects.get().state == PhotoState.ANALYSED


def test_a_photo_whose_file_is_gone_fails_with_the_reason(operator: Any, grids: Any, dji_0061: bytes) -> None:
    photos.ingest_photos(actor=operator, files=[("DJI_0061.JPG", dji_0061)])
    photo = Photo.objects.get()
    photo.image.storage.delete(photo.image.name)
    assert photos.analyse_photo(photo, det=Crowd()) == []
    photo.refresh_from_db()
    assert photo.state == PhotoState.FAILED and photo.error


def test_watched_folder_ingests_each_file_once(
    tmp_path: Path, drone: Any, grids: Any, dji_0061: bytes, settings: Any
) -> None:
    settings.DRONE_INBOX_SETTLE_SECONDS = 5
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "DJI_0061.JPG").write_bytes(dji_0061)
    (inbox / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    (inbox / "copying.jpg").write_bytes(dji_0061[:1000])  # still being written: fresh mtime
    old = time.time() - 60
    for name in ("DJI_0061.JPG", "broken.jpg"):
        os.utime(inbox / name, (old, old))
    out = io.StringIO()
    assert photos.watch_main([str(inbox), "--drone", drone.code, "--once"], out=out) == 0
    assert "导入 1 张" in out.getvalue() and "拒收 1 张" in out.getvalue()
    assert (inbox / "done" / "DJI_0061.JPG").is_file()
    assert (inbox / "rejected" / "broken.jpg").is_file()
    reason = (inbox / "rejected" / "broken.jpg.txt").read_text(encoding="utf-8")
    assert reason.startswith("photo:") and "broken.jpg" in reason
    assert (inbox / "copying.jpg").is_file()  # left for the next pass
    assert Photo.objects.get().drone == drone
    # The same photo dropped again is a duplicate: moved to done/, not stored twice.
    (inbox / "again.jpg").write_bytes(dji_0061)
    os.utime(inbox / "again.jpg", (old, old))
    settings.DRONE_INBOX = str(inbox)
    assert photos.scan_configured_inbox() == {"ok": 0, "duplicate": 1, "rejected": 0}
    assert (inbox / "done" / "again.jpg").is_file() and Photo.objects.count() == 1
    err = io.StringIO()
    assert photos.watch_main([str(inbox / "nope")], err=err) == 2 and "不是文件夹" in err.getvalue()
    assert photos.watch_main([str(inbox), "--drone", "NOPE", "--once"], err=err) == 2


def test_ground_elevation_comes_from_the_drones_dock(
    operator: Any, drone: Any, dock: Any, grids: Any, dji_0061: bytes
) -> None:
    dock.elevation_m = 19.7
    dock.save()
    drone.refresh_from_db()
    photos.ingest_photos(actor=operator, files=[("DJI_0061.JPG", dji_0061)], drone=drone)
    photo = Photo.objects.get()
    assert photo.alt_source == "gps_minus_ground" and abs(photo.alt_m - 100.0) < 0.01
    dock.elevation_m = 190.0  # above the photo: the altitude makes no sense, the file is refused
    dock.save()
    drone.refresh_from_db()
    Photo.objects.all().delete()
    report = photos.ingest_photos(actor=operator, files=[("DJI_0061.JPG", dji_0061)], drone=drone)
    assert report.results[0].field == "altitude" and "离地高度不合理" in report.results[0].message
