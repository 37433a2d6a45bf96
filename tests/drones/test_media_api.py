"""The photos upload and the media API under hostile input (docs/api.md, "Drones"): a batch of the real
DJI photos with malformed files is answered file by file with clear messages, and the status says
how it went (201 all new, 200 nothing new nothing refused, 207 some refused, 422 all refused); the
analysis job is there to poll. Huge, empty, fake, badly named, too many files; junk ids, pages and
bodies: every one a clear 4xx (or a per-file refusal), never a 500, and nothing stored of a refused
file."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from shequ.drones.models import Flight, FlightState, Photo
from tests.drones.conftest import bomb_png, gps_jpeg, stored_files

pytestmark = pytest.mark.django_db
URL = "/api/drones/photos/"


def client_for(user: Any) -> APIClient:
    client = APIClient(raise_request_exception=False)
    client.force_login(user)
    return client


def upload(*files: tuple[str, bytes]) -> list[SimpleUploadedFile]:
    return [SimpleUploadedFile(name, data, content_type="image/jpeg") for name, data in files]


def by_name(response: Any) -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in response.json()["files"]}


def test_a_mixed_batch_is_answered_file_by_file(
    operator: Any, drone: Any, grids: Any, dji_0061: bytes, dji_0062: bytes, drone_media: Path, settings: Any
) -> None:
    settings.DRONE_PHOTO_MAX_MB = 1
    client = client_for(operator)
    files = upload(
        ("notes.txt", b"this is not an image"),
        ("empty.jpg", b""),
        ("fake.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 500),
        ("nogps.jpg", gps_jpeg(gps=False)),
        ("high.jpg", gps_jpeg(altitude=25000.0)),
        ("truncated.jpg", gps_jpeg(seed=4)[:3000]),
        ("bomb.png", bomb_png()),
        ("big.jpg", dji_0061),  # 2.4 MB: over the 1 MB limit
        ("ok.jpg", gps_jpeg(seed=11)),
    )
    answer = client.post(URL, {"files": files, "drone": drone.pk}, format="multipart")
    assert answer.status_code == 207, answer.content
    body = answer.json()
    assert (body["ok"], body["duplicate"], body["rejected"]) == (1, 0, 8)
    rows = by_name(answer)
    assert body["files"][0]["name"] == "notes.txt"  # in the order sent
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
        row = rows[name]
        assert row["status"] == "rejected" and row["field"] == field and words in row["message"], row
        assert "photo" not in row
    assert "2.4 MB" in rows["big.jpg"]["message"] and "上限 1 MB" in rows["big.jpg"]["message"]
    assert rows["ok.jpg"]["status"] == "ok" and "field" not in rows["ok.jpg"]
    photo = Photo.objects.get()
    assert rows["ok.jpg"]["photo"] == photo.pk and photo.drone == drone and photo.uploaded_by == operator
    assert len(stored_files(drone_media)) == 1  # nothing of a refused file
    # The analysis job, to poll through the jobs API.
    assert body["job"] and body["job_url"] == f"/api/jobs/{body['job']}/"
    job = client.get(body["job_url"])
    assert job.status_code == 200 and job.json()["kind"] == "drones.analyse"


def test_status_codes_of_an_upload(
    operator: Any, drone: Any, grids: Any, dji_0061: bytes, dji_0062: bytes, drone_media: Path
) -> None:
    client = client_for(operator)
    pair = (("DJI_0061.JPG", dji_0061), ("DJI_0062.JPG", dji_0062))
    first = client.post(URL, {"files": upload(*pair), "drone": str(drone.pk)}, format="multipart")
    assert first.status_code == 201, first.content
    assert [r["status"] for r in first.json()["files"]] == ["ok", "ok"]
    stored = {r["name"]: r["photo"] for r in first.json()["files"]}
    # The same photos again: duplicates naming the stored ones, nothing new, no job.
    again = client.post(URL, {"files": upload(*pair)}, format="multipart")
    assert again.status_code == 200 and again.json()["job"] is None and again.json()["job_url"] is None
    assert {r["name"]: r["photo"] for r in again.json()["files"]} == stored
    assert {r["status"] for r in again.json()["files"]} == {"duplicate"}
    # New and duplicate: 200 too (nothing refused).
    mixed = client.post(URL, {"files": upload(pair[0], ("new.jpg", gps_jpeg(seed=2)))}, format="multipart")
    assert mixed.status_code == 200 and mixed.json()["ok"] == 1 and mixed.json()["job"]
    # The same file twice in one batch: the second copy is a duplicate of the first.
    twice = client.post(
        URL, {"files": upload(("a.jpg", gps_jpeg(seed=3)), ("b.jpg", gps_jpeg(seed=3)))}, format="multipart"
    )
    rows = twice.json()["files"]
    assert twice.status_code == 200 and [r["status"] for r in rows] == ["ok", "duplicate"]
    assert rows[0]["photo"] == rows[1]["photo"]
    # All refused: 422, the report still lists why.
    refused = client.post(URL, {"files": upload(("x.jpg", b"nope"), ("y.jpg", b""))}, format="multipart")
    assert refused.status_code == 422 and refused.json()["rejected"] == 2 and refused.json()["job"] is None
    assert all(r["message"] for r in refused.json()["files"])
    assert Photo.objects.count() == 4 and len(stored_files(drone_media)) == 4
    detail = client.get(f"{URL}{stored['DJI_0061.JPG']}/").json()
    assert detail["heading_source"] == "track" and detail["alt_source"] == "gps_assumed_agl"
    assert detail["footprint"]["type"] == "Polygon" and detail["grid"] == grids["grid1"].code
    assert detail["image_url"] == f"/api/drones/photos/{stored['DJI_0061.JPG']}/image/"
    image = client.get(detail["image_url"])
    assert image.status_code == 200 and image.content == dji_0061 and image["Content-Type"] == "image/jpeg"


def test_an_upload_with_a_flight(operator: Any, drone: Any, grids: Any, dji_0061: bytes) -> None:
    flight = Flight.objects.create(drone=drone, state=FlightState.LANDED)
    client = client_for(operator)
    files = upload(("DJI_0061.JPG", dji_0061))
    answer = client.post(URL, {"files": files, "flight": flight.pk}, format="multipart")
    assert answer.status_code == 201, answer.content
    photo = Photo.objects.get()
    assert photo.flight == flight and photo.drone == drone  # the flight's drone
    assert [p["id"] for p in client.get(f"{URL}?flight={flight.pk}").json()["results"]] == [photo.pk]
    assert client.get(f"{URL}?flight={flight.pk + 1}").json()["results"] == []


def test_too_many_files(operator: Any, grids: Any, settings: Any) -> None:
    settings.DRONE_UPLOAD_MAX_FILES = 3
    client = client_for(operator)
    files = upload(*[(f"{i}.jpg", gps_jpeg(seed=i)) for i in range(4)])
    answer = client.post(URL, {"files": files}, format="multipart")
    assert answer.status_code == 422 and answer.json()["field"] == "files" and "3" in answer.json()["detail"]
    # Past Django's own cap on files per request: the same answer, not a bare 400.
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 3
    answer = client.post(URL, {"files": upload(*[(f"{i}.jpg", b"x") for i in range(5)])}, format="multipart")
    assert answer.status_code == 422 and answer.json()["field"] == "files"
    assert not Photo.objects.exists()


def _multipart(parts: list[tuple[bytes, bytes]], boundary: bytes = b"XyZ") -> bytes:
    """A multipart body by hand: (Content-Disposition params, content) per part."""
    out = b""
    for disposition, content in parts:
        out += b"--" + boundary + b"\r\nContent-Disposition: form-data; " + disposition + b"\r\n"
        out += b"Content-Type: application/octet-stream\r\n\r\n" + content + b"\r\n"
    return out + b"--" + boundary + b"--\r\n"


def test_names_that_are_not_utf8_or_not_names(operator: Any, grids: Any) -> None:
    client = client_for(operator)
    body = _multipart(
        [
            (b'name="files"; filename="\xff\xfe\xb0\xa1.jpg"', b"not an image"),
            (b'name="files"; filename="../../etc/passwd"', gps_jpeg(seed=21)),
            (b'name="files"; filename="' + "照片".encode("gb18030") + b'.jpg"', b"\xff\xd8"),
            (b'name="files"; filename="' + b"a" * 600 + b'.jpg"', b""),
        ]
    )
    answer = client.post(URL, data=body, content_type="multipart/form-data; boundary=XyZ")
    assert answer.status_code == 207, answer.content
    rows = answer.json()["files"]
    # Django skips a part whose headers are not UTF-8 (its name cannot be read): the rest go on.
    assert [r["status"] for r in rows] == ["ok", "rejected"]
    assert rows[0]["name"] == "passwd" and len(rows[1]["name"]) == 200 and "空" in rows[1]["message"]
    # A part without a file name is not a file; no files at all is a 400 naming the field.
    none = _multipart([(b'name="files"', b"plain text")])
    refused = client.post(URL, data=none, content_type="multipart/form-data; boundary=XyZ")
    assert refused.status_code == 400 and refused.json()["field"] == "files"
    # A part's headers past Django's bound: the request is refused whole, saying why.
    huge = _multipart([(b'name="files"; filename="' + b"a" * 20_000 + b'.jpg"', b"x")])
    refused = client.post(URL, data=huge, content_type="multipart/form-data; boundary=XyZ")
    assert refused.status_code == 400 and "multipart" in refused.json()["detail"]
    assert Photo.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b'{"files": []}', "application/json", 415),
        (b"files=a.jpg", "application/x-www-form-urlencoded", 415),
        (b"\xff\xd8\xff\xe0", "image/jpeg", 415),
        (b'--XyZ\r\nContent-Disposition: form-data; name="files"', "multipart/form-data; boundary=XyZ", 400),
        (b"garbage", "multipart/form-data", 400),  # no boundary
        (b"garbage", "multipart/form-data; boundary=" + "b" * 500, 415),  # past RFC 2046's 70
    ],
)
def test_wrong_content_types_and_broken_multipart(
    operator: Any, grids: Any, body: bytes, content_type: str, status: int
) -> None:
    answer = client_for(operator).post(URL, data=body, content_type=content_type)
    assert answer.status_code == status, answer.content[:300]
    assert answer.json()["detail"]
    assert not Photo.objects.exists()


def test_bad_fields_of_an_upload(operator: Any, drone: Any, grids: Any) -> None:
    client = client_for(operator)
    one = lambda: upload(("x.jpg", gps_jpeg()))  # noqa: E731
    for extra, field in [
        ({"drone": "9" * 100_000}, "drone"),
        ({"drone": "-1"}, "drone"),
        ({"drone": "UAV-01"}, "drone"),
        ({"flight": "1e5"}, "flight"),
        ({"photos": "x"}, "photos"),
    ]:
        answer = client.post(URL, {"files": one(), **extra}, format="multipart")
        assert answer.status_code == 400 and answer.json()["field"] == field, (extra, answer.content[:200])
    text_not_file = client.post(URL, {"files": "not a file"}, format="multipart")
    assert text_not_file.status_code == 400 and text_not_file.json()["field"] == "files"
    assert not Photo.objects.exists()


def test_list_filters_and_junk_queries(media: dict[str, Any], operator: Any, grids: Any) -> None:
    client = client_for(operator)
    p1, p2, p3 = media["p1"], media["p2"], media["p3"]

    def ids(query: str) -> list[int]:
        answer = client.get(f"{URL}?{query}")
        assert answer.status_code == 200, (query, answer.content[:200])
        return [row["id"] for row in answer.json()["results"]]

    assert set(ids("")) == {p1.pk, p2.pk, p3.pk}
    assert set(ids(f"grid={grids['grid1'].code}")) == {p1.pk, p2.pk}
    assert ids("state=analysed") == [p3.pk, p1.pk]  # newest taken first
    assert set(ids("state=new")) == {p2.pk}
    assert set(ids("since=2015-10-16&until=2015-10-16")) == {p1.pk, p2.pk}  # the real photos' day
    assert ids("until=2015-10-15") == []
    assert set(ids("since=2026-05-01T01:00:00%2B00:00")) == {p3.pk}
    assert ids("page=-1") and ids("limit=1&offset=1")  # `page` is no parameter here: ignored
    assert len(ids("limit=1")) == 1
    for query in (
        "offset=-1",
        "limit=0",
        "limit=100000",
        "flight=abc",
        "flight=" + "9" * 100_000,
        "state=lost",
        "since=yesterday",
        "since=0001-01-01",
        "grid=" + "x" * 500,
        "grid=%00",
    ):
        answer = client.get(f"{URL}?{query}")
        assert answer.status_code == 400 and answer.json()["detail"], (query, answer.content[:200])
    for query in ("kind=crater", "flight=-5", "photo=x", "state=maybe"):
        assert client.get(f"/api/drones/findings/?{query}").status_code == 400, query
    assert client.get(f"/api/drones/findings/?flight=1&photo={p1.pk}").status_code == 200


@pytest.mark.parametrize(
    "tail",
    ["photos/{id}/", "photos/{id}/image/", "findings/{id}/", "findings/{id}/crop/"],
)
@pytest.mark.parametrize("junk", ["9" * 100_000, "-1", "0x10", "1.5", "%00", "٣", "99999999999999999999"])
def test_junk_ids_are_not_found(media: dict[str, Any], operator: Any, tail: str, junk: str) -> None:
    answer = client_for(operator).get("/api/drones/" + tail.format(id=junk))
    assert answer.status_code == 404, answer.content[:200]


def test_hostile_bodies_of_confirm_and_dismiss(media: dict[str, Any], operator: Any) -> None:
    from shequ.cases.models import Case

    client = client_for(operator)
    url = f"/api/drones/findings/{media['f1'].pk}/"
    for body, content_type in [
        (b"[" * 100_000 + b"]" * 100_000, "application/json"),
        (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "application/json"),
        (b"{", "application/json"),
        (b"[1, 2]", "application/json"),
        (b'{"description": ["x"]}', "application/json"),
        (b'{"category": {"code": "0501"}}', "application/json"),
        (b'{"description": "' + b"x" * 3000 + b'"}', "application/json"),
        (b'{"reason": "' + b"x" * 300 + b'"}', "application/json"),
        (b"\xff\xfe\x00\x00", "application/json"),
        (b"description=x", "application/x-www-form-urlencoded"),
        (b"description=x", "text/plain"),
    ]:
        for act in ("confirm/", "dismiss/"):
            answer = client.post(url + act, data=body, content_type=content_type)
            assert 400 <= answer.status_code < 500, (act, body[:40], answer.status_code)
            assert answer.json()["detail"]
    assert not Case.objects.exists() and client.get(url).json()["state"] == "new"
    nul = client.post(url + "confirm/", {"description": "a\x00b"}, format="json")
    assert nul.status_code in (400, 422) and not Case.objects.exists()
    assert client.post(url + "confirm/", {"category": "x" * 41}, format="json").status_code == 400
    assert client.post(url + "confirm/", {"category": "event:9999"}, format="json").status_code == 422


def test_dates_in_the_list_are_the_photos_times(media: dict[str, Any], operator: Any) -> None:
    row = client_for(operator).get(f"{URL}{media['p1'].pk}/").json()
    taken = dt.datetime.fromisoformat(row["taken_at"])
    # EXIF local time of the real photo, read as Asia/Shanghai (the platform's zone).
    assert (taken.year, taken.month, taken.day, taken.hour, taken.minute) == (2015, 10, 16, 13, 23)
