"""Who sees which photos and findings over the API (docs/drones.md, "Scope and blurring"): every role
on every media endpoint. Administrators see all; command operators and leaders their grids' plus
what lies in no grid; grid workers their grids', with faces and plates blurred in every image;
department handlers and residents nothing (403). Out of scope is 404, revealing nothing. Leaders
read only. The data (conftest `media`): p1 in grid1 with f1 (grid1) and f2 (grid2), p2 in grid1
without findings, p3 and f3 in no grid."""

from __future__ import annotations

import io
from typing import Any

import cv2
import numpy as np
import pytest
from django.core.cache import cache
from PIL import Image
from rest_framework.test import APIClient

from shequ.accounts.models import Role
from shequ.cases.models import Case
from shequ.drones import selectors
from shequ.drones.models import Finding, FindingState, Photo
from shequ.drones.services import photos
from shequ_vision.detect import Detection
from tests.drones.conftest import Scripted

pytestmark = pytest.mark.django_db


def client_for(user: Any) -> APIClient:
    client = APIClient(raise_request_exception=False)
    client.force_login(user)
    return client


def ids(response: Any) -> set[int]:
    assert response.status_code == 200, response.content[:300]
    return {row["id"] for row in response.json()["results"]}


@pytest.fixture
def viewers(
    admin_user: Any,
    operator: Any,
    leader: Any,
    grid_worker: Any,
    grid_worker2: Any,
    handler: Any,
    resident: Any,
    make_user: Any,
    grids: Any,
) -> dict[str, Any]:
    return {
        "admin": admin_user,
        "operator": operator,  # the street: both grids
        "operator2": make_user(Role.COMMAND_OPERATOR, grids=(grids["grid2"],)),
        "leader": leader,
        "worker1": grid_worker,
        "worker2": grid_worker2,
        "handler": handler,
        "resident": resident,
    }


# What each viewer sees: photos, findings (by the names of conftest `media`).
SEES = {
    "admin": ({"p1", "p2", "p3"}, {"f1", "f2", "f3"}),
    "operator": ({"p1", "p2", "p3"}, {"f1", "f2", "f3"}),
    # grid2 and no grid: p1 through its finding f2 in grid2; p2 (grid1, no finding there) not.
    "operator2": ({"p1", "p3"}, {"f2", "f3"}),
    "leader": ({"p1", "p2", "p3"}, {"f1", "f2", "f3"}),
    "worker1": ({"p1", "p2"}, {"f1"}),
    "worker2": ({"p1"}, {"f2"}),
}


@pytest.mark.parametrize("who", sorted(SEES))
def test_lists_and_details_in_scope(media: dict[str, Any], viewers: dict[str, Any], who: str) -> None:
    client = client_for(viewers[who])
    photos, found = SEES[who]
    assert ids(client.get("/api/drones/photos/")) == {media[p].pk for p in photos}
    assert ids(client.get("/api/drones/findings/")) == {media[f].pk for f in found}
    for name in ("p1", "p2", "p3"):
        detail = client.get(f"/api/drones/photos/{media[name].pk}/")
        assert detail.status_code == (200 if name in photos else 404), (who, name)
        if name in photos:
            body = detail.json()
            assert body["footprint"]["type"] == "Polygon"
            # Only the photo's findings in the viewer's scope are listed with it.
            assert {f["id"] for f in body["findings"]} == {
                media[f].pk for f in found if media[f].photo_id == media[name].pk
            }
        else:
            assert client.get(f"/api/drones/photos/{media[name].pk}/image/").status_code == 404
    for name in ("f1", "f2", "f3"):
        for tail in ("", "crop/"):
            answer = client.get(f"/api/drones/findings/{media[name].pk}/{tail}")
            assert answer.status_code == (200 if name in found else 404), (who, name, tail)


@pytest.mark.parametrize("who", ["handler", "resident"])
def test_roles_without_drone_media_are_refused(
    media: dict[str, Any], viewers: dict[str, Any], who: str
) -> None:
    client = client_for(viewers[who])
    p1, f1 = media["p1"].pk, media["f1"].pk
    for url in (
        "/api/drones/photos/",
        f"/api/drones/photos/{p1}/",
        f"/api/drones/photos/{p1}/image/",
        "/api/drones/findings/",
        f"/api/drones/findings/{f1}/",
        f"/api/drones/findings/{f1}/crop/",
    ):
        answer = client.get(url)
        assert answer.status_code == 403 and answer.json()["detail"], (who, url)
    for act in ("confirm", "dismiss"):
        assert client.post(f"/api/drones/findings/{f1}/{act}/", {}, format="json").status_code == 403
    assert client.post("/api/drones/photos/", {}, format="multipart").status_code == 403
    anonymous = APIClient(raise_request_exception=False)
    assert anonymous.get("/api/drones/photos/").status_code == 403
    assert Finding.objects.filter(state=FindingState.NEW).count() == 3


def test_images_are_blurred_for_grid_workers(media: dict[str, Any], viewers: dict[str, Any]) -> None:
    p1, f1 = media["p1"], media["f1"]
    with p1.image.open("rb") as f:
        original = f.read()
    with f1.crop.open("rb") as f:
        crop = f.read()
    for who in ("admin", "operator", "leader"):
        client = client_for(viewers[who])
        shown = client.get(f"/api/drones/photos/{p1.pk}/image/")
        assert shown.status_code == 200 and shown.content == original, who
        assert shown["Content-Type"] == "image/jpeg" and "no-store" in shown["Cache-Control"]
        assert client.get(f"/api/drones/findings/{f1.pk}/crop/").content == crop
    cache.clear()  # the served image is computed afresh, not taken from a cache this test filled
    worker = client_for(viewers["worker1"])
    shown = worker.get(f"/api/drones/photos/{p1.pk}/image/")
    assert shown.status_code == 200 and "no-store" in shown["Cache-Control"]
    assert shown.content != original and shown.content[:2] == b"\xff\xd8"
    assert Image.open(io.BytesIO(shown.content)).size == (p1.width, p1.height)
    cache.clear()
    assert shown.content == selectors.blurred_photo(p1, original)  # the privacy filter's output
    blurred_crop = worker.get(f"/api/drones/findings/{f1.pk}/crop/")
    assert blurred_crop.status_code == 200 and blurred_crop.content not in (b"", crop)
    assert blurred_crop.content == selectors.blurred(crop)


def test_aerial_blur_obscures_people_and_vehicles(dji_0062: bytes, settings: Any) -> None:
    """Pixels: inside a person's and a car's box the photo is obscured; elsewhere it is the photo."""
    settings.DRONE_DETECT_TILE_PX = 0  # the scripted boxes are of the whole photo
    person = Detection("person", 0.5, (0.52, 0.58, 0.535, 0.60))  # by the house
    car = Detection("car", 0.5, (0.96, 0.55, 0.99, 0.58))  # in the car park
    tree = Detection("potted plant", 0.9, (0.5, 0.5, 0.6, 0.6))  # not a privacy matter: kept
    out = photos.blur_aerial(dji_0062, det=Scripted([person, car, tree]))
    before = cv2.imdecode(np.frombuffer(dji_0062, np.uint8), cv2.IMREAD_COLOR).astype(np.float32)
    after = cv2.imdecode(np.frombuffer(out, np.uint8), cv2.IMREAD_COLOR).astype(np.float32)
    h, w = before.shape[:2]

    def change(box: tuple[float, float, float, float]) -> float:
        x1, y1, x2, y2 = int(box[0] * w), int(box[1] * h), int(box[2] * w), int(box[3] * h)
        return float(np.abs(after[y1:y2, x1:x2] - before[y1:y2, x1:x2]).mean())

    def detail(image: np.ndarray, box: tuple[float, float, float, float]) -> float:
        x1, y1, x2, y2 = int(box[0] * w), int(box[1] * h), int(box[2] * w), int(box[3] * h)
        return float(cv2.Laplacian(image[y1:y2, x1:x2], cv2.CV_32F).var())

    for d in (person, car):
        assert change(d.box) > 5 and detail(after, d.box) < detail(before, d.box) / 5, d.label
    assert detail(after, tree.box) > detail(before, tree.box) / 2  # only re-encoded
    # No detector at all: the whole photo pixelated (fail closed), never the original.
    assert photos.blur_aerial(b"not a photo", det=Scripted([])) != b"not a photo"


def test_a_photo_whose_file_is_gone_has_no_image(media: dict[str, Any], viewers: dict[str, Any]) -> None:
    p2 = media["p2"]
    p2.image.storage.delete(p2.image.name)
    client = client_for(viewers["operator"])
    assert client.get(f"/api/drones/photos/{p2.pk}/image/").status_code == 404
    assert client.get(f"/api/drones/photos/{p2.pk}/").status_code == 200


def test_who_may_act(media: dict[str, Any], viewers: dict[str, Any]) -> None:
    f1, f2, f3 = media["f1"], media["f2"], media["f3"]
    leader = client_for(viewers["leader"])
    for act in ("confirm", "dismiss"):
        refused = leader.post(f"/api/drones/findings/{f1.pk}/{act}/", {}, format="json")
        assert refused.status_code == 403 and refused.json()["detail"]
    # Out of scope is not found, even for a role that may act.
    for who, finding, act in (
        ("worker2", f1, "confirm"),
        ("worker1", f3, "dismiss"),
        ("operator2", f1, "confirm"),
    ):
        answer = client_for(viewers[who]).post(f"/api/drones/findings/{finding.pk}/{act}/", {}, format="json")
        assert answer.status_code == 404, (who, act)
    assert not Case.objects.exists() and not Finding.objects.exclude(state=FindingState.NEW).exists()
    # In scope they may: a grid worker in their grid, an operator what lies in no grid.
    for who, finding, act, status in (
        ("worker1", f1, "confirm", 201),
        ("operator2", f3, "dismiss", 200),
        ("admin", f2, "dismiss", 200),
    ):
        answer = client_for(viewers[who]).post(f"/api/drones/findings/{finding.pk}/{act}/", {}, format="json")
        assert answer.status_code == status, (who, act, answer.content)


def test_upload_only_by_the_command_center(
    media: dict[str, Any], viewers: dict[str, Any], dji_0061: bytes
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    for who in ("leader", "worker1", "handler", "resident"):
        upload = SimpleUploadedFile("DJI_0061.JPG", dji_0061, content_type="image/jpeg")
        answer = client_for(viewers[who]).post("/api/drones/photos/", {"files": [upload]}, format="multipart")
        assert answer.status_code == 403, who
    upload = SimpleUploadedFile("DJI_0061.JPG", dji_0061, content_type="image/jpeg")
    again = client_for(viewers["admin"]).post("/api/drones/photos/", {"files": [upload]}, format="multipart")
    assert again.status_code == 200 and again.json()["files"][0] == {
        "name": "DJI_0061.JPG",
        "status": "duplicate",
        "photo": media["p1"].pk,
    }
    # A drone or flight not in the uploader's sight is refused by name, not used.
    for field in ("drone", "flight"):
        upload = SimpleUploadedFile("x.jpg", b"x", content_type="image/jpeg")
        body = {"files": [upload], field: 987654321}
        refused = client_for(viewers["operator"]).post("/api/drones/photos/", body, format="multipart")
        assert refused.status_code == 422 and refused.json()["field"] == field
    assert Photo.objects.count() == 3


@pytest.mark.parametrize(
    ("who", "query", "expected"),
    [
        ("operator", "grid=39095000100102", {"f2"}),
        ("operator", "grid=390950001", {"f1", "f2"}),
        ("worker1", "grid=39095000100102", set()),  # a grid out of sight: nothing, not an error
        ("operator", "kind=vending", {"f2"}),
        ("operator", "state=new&kind=crowd", {"f1", "f3"}),
        ("operator", "state=dismissed", set()),
    ],
)
def test_finding_filters_stay_in_scope(
    media: dict[str, Any], viewers: dict[str, Any], who: str, query: str, expected: set[str]
) -> None:
    client = client_for(viewers[who])
    assert ids(client.get(f"/api/drones/findings/?{query}")) == {media[f].pk for f in expected}
