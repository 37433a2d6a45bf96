"""Findings (航拍发现) into cases: confirming files one case (source drone, the finding's point, its
crop blurred as evidence, source id "finding:<pk>") however often it is confirmed; a dismissed
finding cannot be confirmed nor a confirmed one dismissed (409); who may act; audit rows and events.
And change detection: an object that appears between two patrols over the same place becomes one
CHANGE finding at its ground position; the same place unchanged gives none."""

from __future__ import annotations

import io
from typing import Any

import cv2
import numpy as np
import pytest
from PIL import Image
from rest_framework.test import APIClient

from shequ.cases.models import Case, Evidence, Source
from shequ.core.errors import Conflict, Forbidden
from shequ.core.geo import distance_m
from shequ.core.models import AuditEntry, Event
from shequ.drones.models import Finding, FindingKind, FindingState, Photo
from shequ.drones.services import findings, photos
from tests.drones.conftest import Scripted

pytestmark = pytest.mark.django_db


def events(kind: str) -> list[dict[str, Any]]:
    return [e.payload for e in Event.objects.filter(type=kind).order_by("seq")]


def audits(action: str) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=action).order_by("pk"))


def client_for(user: Any) -> APIClient:
    client = APIClient(raise_request_exception=False)
    client.force_login(user)
    return client


def test_analysis_raised_events_and_an_audit_row(media: dict[str, Any]) -> None:
    raised = events("drones.finding_raised")
    f1, f2, f3 = media["f1"], media["f2"], media["f3"]
    assert {(e["finding_id"], e["kind"], e["grid_id"]) for e in raised} == {
        (f1.pk, "crowd", f1.grid_id),
        (f2.pk, "vending", f2.grid_id),
        (f3.pk, "crowd", None),
    }
    entry = audits("drones.findings_raised")[0]
    assert entry.target_id == str(media["p1"].pk) and sorted(entry.detail["findings"]) == sorted(
        [f1.pk, f2.pk]
    )
    assert f1.count == 6 and f2.count == 2 and f2.label == "umbrella"


def test_confirm_files_one_case_with_the_blurred_crop(
    media: dict[str, Any], grid_worker: Any, grids: Any
) -> None:
    finding = media["f1"]
    case = findings.confirm_finding(finding, actor=grid_worker, description="广场上有人聚集")
    assert case.source == Source.DRONE and case.source_id == f"finding:{finding.pk}"
    assert case.category.code == findings.DEFAULT_CATEGORY[FindingKind.CROWD]
    assert case.description == "广场上有人聚集" and case.grid == grids["grid1"]
    assert distance_m(case.lon, case.lat, finding.lon, finding.lat) < 0.01
    evidence = case.evidence.get()
    assert evidence.kind == Evidence.Kind.SNAPSHOT
    with evidence.file.open("rb") as f:
        shown = f.read()
    with finding.crop.open("rb") as f:
        crop = f.read()
    # The evidence is the crop as shown outside the command center: blurred, never the original.
    assert shown != crop and Image.open(io.BytesIO(shown)).size == Image.open(io.BytesIO(crop)).size
    finding.refresh_from_db()
    assert finding.state == FindingState.CONFIRMED and finding.case == case
    assert finding.handled_by == grid_worker and finding.handled_at
    entry = audits("drones.finding_confirmed")[0]
    assert entry.actor == grid_worker and entry.target_id == str(finding.pk)
    assert entry.detail["case"] == case.number and entry.detail["kind"] == "crowd"
    assert events("drones.finding_handled") == [
        {"finding_id": finding.pk, "state": "confirmed", "case_id": case.pk, "grid_id": finding.grid_id}
    ]
    # Confirming again is the same case, and nothing more is written.
    assert findings.confirm_finding(finding, actor=grid_worker) == case
    assert Case.objects.count() == 1 and len(audits("drones.finding_confirmed")) == 1
    assert len(events("drones.finding_handled")) == 1
    # A confirmed finding cannot be dismissed.
    with pytest.raises(Conflict) as refused:
        findings.dismiss_finding(finding, actor=grid_worker, reason="看错了")
    assert case.number in refused.value.message
    finding.refresh_from_db()
    assert finding.state == FindingState.CONFIRMED and not audits("drones.finding_dismissed")


def test_dismissed_cannot_be_confirmed(media: dict[str, Any], operator: Any) -> None:
    finding = media["f2"]
    findings.dismiss_finding(finding, actor=operator, reason="  咖啡馆的遮阳伞  ")
    finding.refresh_from_db()
    assert finding.state == FindingState.DISMISSED and finding.dismiss_reason == "咖啡馆的遮阳伞"
    assert finding.case is None and finding.handled_by == operator
    assert audits("drones.finding_dismissed")[0].detail["reason"] == "咖啡馆的遮阳伞"
    assert events("drones.finding_handled")[0]["state"] == "dismissed"
    findings.dismiss_finding(finding, actor=operator, reason="again")  # again: nothing changes
    finding.refresh_from_db()
    assert finding.dismiss_reason == "咖啡馆的遮阳伞" and len(audits("drones.finding_dismissed")) == 1
    with pytest.raises(Conflict):
        findings.confirm_finding(finding, actor=operator)
    assert not Case.objects.exists() and FindingState(Finding.objects.get(pk=finding.pk).state) == "dismissed"


def test_who_may_act(media: dict[str, Any], leader: Any, grid_worker: Any, grid_worker2: Any) -> None:
    f1, f2 = media["f1"], media["f2"]
    with pytest.raises(Forbidden):
        findings.confirm_finding(f1, actor=leader)  # leaders read only
    with pytest.raises(Forbidden):
        findings.dismiss_finding(f1, actor=grid_worker2)  # not in their grid
    with pytest.raises(Forbidden):
        findings.confirm_finding(f2, actor=grid_worker)
    assert not Case.objects.exists() and not Finding.objects.exclude(state=FindingState.NEW).exists()
    assert not audits("drones.finding_confirmed") and not audits("drones.finding_dismissed")


def test_confirm_and_dismiss_over_the_api(media: dict[str, Any], operator: Any, leader: Any) -> None:
    client = client_for(operator)
    url = f"/api/drones/findings/{media['f2'].pk}/confirm/"
    first = client.post(url, {"category": "0501", "description": "路边摆摊"}, format="json")
    assert first.status_code == 201, first.content
    body = first.json()
    case = Case.objects.get(pk=body["case"]["id"])
    assert body["case"]["number"] == case.number and case.category.code == "0501"
    assert body["finding"]["state"] == "confirmed" and body["finding"]["case_number"] == case.number
    again = client.post(url, {}, format="json")
    assert again.status_code == 200 and again.json()["case"] == body["case"]
    dismiss = client.post(f"/api/drones/findings/{media['f2'].pk}/dismiss/", {"reason": "x"}, format="json")
    assert dismiss.status_code == 409 and case.number in dismiss.json()["detail"]
    # The other way round.
    other = f"/api/drones/findings/{media['f1'].pk}/"
    assert (
        client.post(other + "dismiss/", {"reason": "人群已散"}, format="json").json()["state"] == "dismissed"
    )
    late = client.post(other + "confirm/", {}, format="json")
    assert late.status_code == 409 and late.json()["detail"]
    # Refusals: an unknown category (422), a stray field (400), a leader (403); nothing written.
    f3 = f"/api/drones/findings/{media['f3'].pk}/confirm/"
    unknown = client.post(f3, {"category": "9999"}, format="json")
    assert unknown.status_code == 422 and unknown.json()["field"] == "category"
    assert client.post(f3, {"categry": "0501"}, format="json").status_code == 400
    assert client_for(leader).post(f3, {}, format="json").status_code == 403
    assert Case.objects.count() == 1 and Finding.objects.get(pk=media["f3"].pk).state == FindingState.NEW


# --- change detection -------------------------------------------------------------------------------


def later(data: bytes, *, taken: str, paste: tuple[int, int] | None = None) -> bytes:
    """The photo as taken from the same waypoint on a later patrol (EXIF time `taken`): 6 px off,
    in warmer and brighter light, re-encoded; with `paste`, a 1.5 m × 1 m blue tarp with a dark rim
    and creases centred at that pixel (18 × 12 pixels at 8.5 cm a pixel)."""
    image = Image.open(io.BytesIO(data))
    exif = image.getexif()
    exif[306] = taken
    exif.get_ifd(0x8769)[36867] = taken
    bgr = cv2.cvtColor(np.asarray(image.convert("RGB")), cv2.COLOR_RGB2BGR)
    shift = np.float32([[1, 0, 6], [0, 1, -4]])
    bgr = cv2.warpAffine(bgr, shift, bgr.shape[1::-1], borderMode=cv2.BORDER_REFLECT)
    bgr = np.clip(bgr.astype(np.float32) * np.float32([1.05, 1.12, 1.2]) + 8, 0, 255).astype(np.uint8)
    if paste is not None:
        x, y = paste
        w, h = 18, 12
        rng = np.random.default_rng(7)
        tarp = np.empty((h, w, 3), np.int16)
        tarp[:] = (175, 95, 35)  # BGR: the blue of a plastic tarp
        tarp += rng.integers(-20, 20, tarp.shape).astype(np.int16)
        tarp[0, :], tarp[-1, :], tarp[:, 0], tarp[:, -1] = 40, 40, 40, 40
        bgr[y - h // 2 : y - h // 2 + h, x - w // 2 : x - w // 2 + w] = np.clip(tarp, 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)).save(out, "JPEG", quality=92, exif=exif.tobytes())
    return out.getvalue()


PASTE = (1950, 660)  # gravel beside the road, in the part of DJI_0062 that DJI_0061 also shows


def _patrols(operator: Any, drone: Any, dji_0061: bytes, dji_0062: bytes, *, paste: bool) -> Photo:
    """Patrol 1 (2015-10-16): the real pair. Patrol 2 (the next day, the same route): the pair
    again, DJI_0062 with or without the tarp. Returns patrol 2's DJI_0062 (the pairs give each
    photo its heading from the track)."""
    pair = [("DJI_0061.JPG", dji_0061), ("DJI_0062.JPG", dji_0062)]
    photos.ingest_photos(actor=operator, files=pair, drone=drone)
    second = [
        ("p2-0061.jpg", later(dji_0061, taken="2015:10:17 13:23:16")),
        ("p2-0062.jpg", later(dji_0062, taken="2015:10:17 13:23:23", paste=PASTE if paste else None)),
    ]
    report = photos.ingest_photos(actor=operator, files=second, drone=drone)
    assert [r.status for r in report.results] == ["ok", "ok"], report.as_dict()
    return Photo.objects.get(name="p2-0062.jpg")


def _ground(photo: Photo, drone: Any, pixel: tuple[int, int]) -> tuple[float, float]:
    """Where a pixel of a stored photo lies on the ground, by its footprint."""
    from shequ_vision.aerial import footprint, read_photo

    with photo.image.open("rb") as f:
        meta = read_photo(f.read(), camera=photos.camera_for(drone), heading=photo.heading)
    return footprint(meta).to_ground(pixel[0] / photo.width, pixel[1] / photo.height)


def test_an_object_left_between_patrols_is_one_change_at_its_place(
    operator: Any, drone: Any, grids: Any, dji_0061: bytes, dji_0062: bytes, settings: Any
) -> None:
    settings.DRONE_DETECT_TILE_PX = 0
    after = _patrols(operator, drone, dji_0061, dji_0062, paste=True)
    before = Photo.objects.get(name="DJI_0062.JPG")  # the same waypoint, the day before
    assert photos.earlier_photo(after)[0] == before  # type: ignore[index]
    added = photos.analyse_photo(after, det=Scripted([]))
    assert [f.kind for f in added] == [FindingKind.CHANGE], [(f.label, f.lon, f.lat) for f in added]
    change = added[0]
    assert change.compared_with == before and change.crop and "新增物体" in change.label
    assert distance_m(change.lon, change.lat, *_ground(after, drone, PASTE)) < 3.0
    assert change.grid == grids["grid1"]
    x1, y1, x2, y2 = change.box
    assert x1 <= PASTE[0] / after.width <= x2 and y1 <= PASTE[1] / after.height <= y2
    assert events("drones.finding_raised")[-1]["kind"] == "change"


def test_the_same_place_unchanged_gives_no_change(
    operator: Any, drone: Any, grids: Any, dji_0061: bytes, dji_0062: bytes, settings: Any
) -> None:
    settings.DRONE_DETECT_TILE_PX = 0
    after = _patrols(operator, drone, dji_0061, dji_0062, paste=False)
    assert photos.analyse_photo(after, det=Scripted([])) == []
    after.refresh_from_db()
    assert after.state == "analysed"


def test_the_object_is_found_from_another_viewpoint(
    operator: Any, drone: Any, grids: Any, dji_0061: bytes, dji_0062: bytes, settings: Any
) -> None:
    """Patrol 1 photographed the place only from DJI_0061's point, 22 m east: the tarp is still
    found in place. Tall roofs and trees lean differently from two viewpoints (parallax), which the
    engine may report as well (shequ_vision.change); none of that lies near the tarp."""
    settings.DRONE_DETECT_TILE_PX = 0
    after = _patrols(operator, drone, dji_0061, dji_0062, paste=True)
    Photo.objects.filter(name="DJI_0062.JPG").delete()
    assert photos.earlier_photo(after)[0].name == "DJI_0061.JPG"  # type: ignore[index]
    where = _ground(after, drone, PASTE)
    added = photos.analyse_photo(after, det=Scripted([]))
    assert [f for f in added if distance_m(f.lon, f.lat, *where) < 3.0], [(f.lon, f.lat) for f in added]
    assert all(f.kind == FindingKind.CHANGE for f in added)


def test_photos_of_one_patrol_are_not_compared(
    operator: Any, drone: Any, grids: Any, dji_0061: bytes, dji_0062: bytes
) -> None:
    """The next frame of the same pass is no earlier patrol (DRONE_CHANGE_MIN_GAP_MINUTES)."""
    photos.ingest_photos(
        actor=operator, files=[("DJI_0061.JPG", dji_0061), ("DJI_0062.JPG", dji_0062)], drone=drone
    )
    assert photos.earlier_photo(Photo.objects.get(name="DJI_0062.JPG")) is None


def test_a_pair_that_cannot_be_registered_keeps_the_detections(
    operator: Any, drone: Any, grids: Any, dji_0061: bytes, settings: Any
) -> None:
    """An earlier photo of the same place whose pixels have nothing in common (noise): no change, and
    the photo's own findings are still raised (the analysis does not fail)."""
    from tests.drones.conftest import crowd_at, gps_jpeg

    settings.DRONE_DETECT_TILE_PX = 0
    noise = gps_jpeg(
        size=(2400, 1800), altitude=119.7, taken="2015:10:15 13:23:16", lonlat=(-83.698649, 41.548596)
    )
    photos.ingest_photos(actor=operator, files=[("noise.jpg", noise)], drone=drone)
    photos.ingest_photos(actor=operator, files=[("DJI_0061.JPG", dji_0061)], drone=drone)
    photo = Photo.objects.get(name="DJI_0061.JPG")
    assert photos.earlier_photo(photo) is not None
    added = photos.analyse_photo(photo, det=Scripted(crowd_at(0.48, 0.48)))
    photo.refresh_from_db()
    assert photo.state == "analysed" and [f.kind for f in added] == [FindingKind.CROWD]
