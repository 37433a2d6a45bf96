"""The video pages (docs/pages.md, "Video"): the wall, a camera with its zone and rule editor, the
alert queue with confirm / dismiss, and the images, per role and scope. Data is made through the
video services; snapshots are real JPEGs drawn by the demo's scene drawer."""

from __future__ import annotations

import io
import json
import random
import re
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from PIL import Image

from shequ.accounts.models import Role
from shequ.cases.models import Case
from shequ.demo.cameras import OBJECTS, ZONES, draw_scene
from shequ.video import services
from shequ.video.models import Alert, AlertState, Camera
from tests.cases.conftest import (  # noqa: F401 (fixtures)
    IN_GRID11,
    IN_GRID12,
    IN_GRID21,
    case_categories,
    case_departments,
    case_media,
)

pytestmark = pytest.mark.django_db


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def scene(kind: str = "parking", seed: int = 1) -> tuple[bytes, tuple[float, float, float, float]]:
    rng = random.Random(seed)
    box = OBJECTS[kind](rng)
    image = draw_scene(rng, kind, ZONES[kind], box, "TEST", label="car")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue(), box


def camera_at(code: str, at: tuple[float, float], actor: Any, **fields: Any) -> Camera:
    return services.register_camera(
        actor=actor, code=code, name=f"摄像头{code}", lon=at[0], lat=at[1], **fields
    )


def alert_on(camera: Camera, n: int, kind: str = "parking", **fields: Any) -> Alert:
    jpeg, box = scene(kind, n)
    alert, _ = services.raise_alert(
        camera,
        origin="engine",
        source_id=f"test:{camera.code}:{n}",
        kind=kind,
        detected_at=timezone.now() - timezone.timedelta(minutes=n),
        rule_id=f"{kind}-1",
        zone_id="z1",
        zone_name="消防通道",
        label="car",
        confidence=0.8,
        box=box,
        snapshot=jpeg,
        **fields,
    )
    return alert


@pytest.fixture
def video(
    two_communities: dict[str, Any],
    make_user: Any,
    system_user: Any,
    case_departments: Any,  # noqa: F811
    case_categories: Any,  # noqa: F811
) -> dict[str, Any]:
    g = two_communities
    w: dict[str, Any] = dict(g)
    w["operator"] = make_user(Role.COMMAND_OPERATOR, grids=(g["street"],))
    w["leader"] = make_user(Role.LEADER, grids=(g["street"],))
    w["worker11"] = make_user(Role.GRID_WORKER, grids=(g["grid11"],))
    w["resident"] = make_user(Role.RESIDENT)
    w["handler"] = make_user(Role.DEPARTMENT_HANDLER, department=case_departments["enforcement"])
    w["cam11"] = camera_at("CAM11", IN_GRID11, system_user)
    w["cam12"] = camera_at("CAM12", IN_GRID12, system_user)
    w["cam21"] = camera_at("CAM21", IN_GRID21, system_user)
    services.record_status(w["cam11"].pk, "online")
    services.record_status(w["cam12"].pk, "offline", "连接超时")
    jpeg, _ = scene("parking", 9)
    services.store_latest_snapshot(w["cam11"].pk, jpeg)
    w["alert11"] = alert_on(w["cam11"], 1)
    w["alert12"] = alert_on(w["cam12"], 2, kind="crowd")
    w["alert21"] = alert_on(w["cam21"], 3)
    return w


# --- who opens the pages -----------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/video/", "/video/alerts/"])
def test_pages_per_role(video, url):
    assert client_for(video["operator"]).get(url).status_code == 200
    assert client_for(video["leader"]).get(url).status_code == 200
    assert client_for(video["worker11"]).get(url).status_code == 200
    assert client_for(video["resident"]).get(url).status_code == 403
    assert client_for(video["handler"]).get(url).status_code == 403
    anonymous = Client().get(url)
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]


def test_wall_shows_the_scope_with_status(video):
    page = client_for(video["operator"]).get("/video/").content.decode()
    assert "摄像头CAM11" in page and "摄像头CAM12" in page and "摄像头CAM21" in page
    assert 'data-status="offline"' in page and "暂无画面" in page
    assert f"/video/cameras/{video['cam11'].pk}/snapshot.jpg" in page  # only the camera with a frame
    assert f"/video/cameras/{video['cam12'].pk}/snapshot.jpg" not in page
    mine = client_for(video["worker11"]).get("/video/").content.decode()
    assert "摄像头CAM11" in mine and "摄像头CAM12" not in mine and "摄像头CAM21" not in mine


def test_wall_filters_and_pages(video, system_user):
    client = client_for(video["operator"])
    offline = client.get("/video/", {"status": "offline"}).content.decode()
    assert "摄像头CAM12" in offline and "摄像头CAM11" not in offline
    found = client.get("/video/", {"q": "CAM21"}).content.decode()
    assert "摄像头CAM21" in found and "摄像头CAM11" not in found
    by_grid = client.get("/video/", {"grid": video["grid12"].pk}).content.decode()
    assert "摄像头CAM12" in by_grid and "摄像头CAM11" not in by_grid
    bad = client.get("/video/", {"status": "nonsense", "grid": "x"})
    assert bad.status_code == 200  # an invalid filter is shown and ignored
    for n in range(50):
        camera_at(f"P{n:02d}", (IN_GRID11[0] + n * 0.00005, IN_GRID11[1]), system_user)
    first, second = (
        client.get("/video/").content.decode(),
        client.get("/video/", {"page": 2}).content.decode(),
    )
    assert first.count('class="video-tile') == 48 and second.count('class="video-tile') == 5
    partial = client.get("/video/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="video-tiles")
    assert (
        partial.content.decode().startswith('<div id="video-tiles"')
        or 'id="video-tiles"' in partial.content.decode()
    )
    assert "<html" not in partial.content.decode()


def test_wall_query_count_does_not_grow_with_cameras(video, system_user):
    client = client_for(video["operator"])
    client.get("/video/")  # warm: session, the user
    with CaptureQueriesContext(connection) as few:
        assert client.get("/video/").status_code == 200
    for n in range(40):
        camera_at(f"Q{n:02d}", (IN_GRID12[0] + n * 0.00005, IN_GRID12[1]), system_user)
    with CaptureQueriesContext(connection) as many:
        assert client.get("/video/").status_code == 200
    assert len(many) == len(few) <= 12, [q["sql"] for q in many.captured_queries]


# --- a camera ----------------------------------------------------------------------------------


def test_camera_page_shows_status_metrics_and_alerts(video):
    camera = video["cam11"]
    services.record_metrics(
        camera.pk,
        {"frames_decoded": 12000, "frames_analysed": 600, "detector_calls": 200, "detector_seconds": 10.0,
         "firings": 3, "last_error": ""},
    )  # fmt: skip
    page = client_for(video["operator"]).get(f"/video/cameras/{camera.pk}/").content.decode()
    assert "摄像头CAM11" in page and "在线" in page
    assert re.search(r'data-metric="frames_decoded">12,?000<', page)
    assert 'data-metric="detector_ms">50.0 ms<' in page  # 10 s over 200 calls
    assert "违章停车" in page and "消防通道" in page
    assert 'id="video-editor" data-editable="true"' in page
    config = json.loads(
        page.split('id="video-editor-config" type="application/json">')[1].split("</script>")[0]
    )
    assert config["save_url"] == f"/video/cameras/{camera.pk}/analytics/"
    assert config["kinds"]["crowd"]["fields"][0] == {
        "name": "min_people",
        "label": "最少人数",
        "type": "integer",
        "default": 5,
        "minimum": 2,
        "maximum": 500,
    }


def test_camera_page_scope(video):
    worker = client_for(video["worker11"])
    page = worker.get(f"/video/cameras/{video['cam11'].pk}/").content.decode()
    assert 'data-editable="false"' in page  # a grid worker looks, the operators edit
    assert worker.get(f"/video/cameras/{video['cam21'].pk}/").status_code == 404
    assert worker.get(f"/video/cameras/{video['cam21'].pk}/snapshot.jpg").status_code == 404
    assert client_for(video["operator"]).get("/video/cameras/999999/").status_code == 404


def test_snapshot_original_for_the_command_center_blurred_for_others(video):
    url = f"/video/cameras/{video['cam11'].pk}/snapshot.jpg"
    original = client_for(video["operator"]).get(url)
    assert original.status_code == 200 and original["Content-Type"] == "image/jpeg"
    assert "no-store" in original["Cache-Control"]
    camera = Camera.objects.get(pk=video["cam11"].pk)
    with camera.latest_snapshot.open("rb") as f:
        assert original.content == f.read()
    blurred = client_for(video["worker11"]).get(url)
    assert blurred.status_code == 200 and blurred.content != original.content
    with Image.open(io.BytesIO(blurred.content)) as image:
        assert image.size == (640, 360)
    small = client_for(video["operator"]).get(url, {"w": "320"})
    with Image.open(io.BytesIO(small.content)) as image:
        assert image.width == 320
    assert (
        client_for(video["operator"]).get(f"/video/cameras/{video['cam12'].pk}/snapshot.jpg").status_code
        == 404
    )


# --- the editor: zones and rules ---------------------------------------------------------------

ANALYTICS = {
    "sample_fps": 2,
    "zones": [
        {"id": "zone-1", "name": "消防通道", "polygon": [[0.1, 0.5], [0.5, 0.5], [0.5, 0.9], [0.1, 0.9]]}
    ],
    "rules": [
        {"id": "parking-1", "kind": "parking", "zone": "zone-1", "min_minutes": 3, "auto_case": True},
        {
            "id": "crowd-1",
            "kind": "crowd",
            "zone": "zone-1",
            "min_people": 6,
            "schedule": [{"days": [1, 2, 3, 4, 5], "start": "07:00", "end": "09:00"}],
        },
    ],
}


def post_json(client: Client, url: str, data: Any) -> Any:
    body = data if isinstance(data, bytes | str) else json.dumps(data)
    return client.post(url, body, content_type="application/json")


def test_editor_round_trip(video):
    camera = video["cam11"]
    url = f"/video/cameras/{camera.pk}/analytics/"
    answer = post_json(client_for(video["operator"]), url, ANALYTICS)
    assert answer.status_code == 200, answer.content
    stored = Camera.objects.get(pk=camera.pk).analytics
    assert stored["sample_fps"] == 2
    assert stored["zones"][0]["polygon"] == [[0.1, 0.5], [0.5, 0.5], [0.5, 0.9], [0.1, 0.9]]
    parking, crowd = stored["rules"]
    assert parking["min_minutes"] == 3 and parking["auto_case"] is True and parking["cooldown_seconds"] == 600
    assert crowd["min_people"] == 6 and crowd["schedule"][0]["start"] == "07:00"
    assert answer.json()["analytics"] == stored
    # The page draws the stored settings back into the editor.
    page = client_for(video["operator"]).get(f"/video/cameras/{camera.pk}/").content.decode()
    assert "消防通道" in page and "crowd-1" in page


def test_editor_errors_per_field(video):
    camera = video["cam11"]
    url = f"/video/cameras/{camera.pk}/analytics/"
    client = client_for(video["operator"])
    bad = json.loads(json.dumps(ANALYTICS))
    bad["rules"][1]["min_people"] = 1
    bad["rules"][0]["zone"] = "nowhere"
    answer = post_json(client, url, bad)
    assert answer.status_code == 422
    fields = {e["field"] for e in answer.json()["errors"]}
    assert "rules.1.min_people" in fields or "rules.0.zone" in fields
    assert Camera.objects.get(pk=camera.pk).analytics == {}  # nothing saved
    assert post_json(client, url, b"{not json").status_code == 400
    assert post_json(client, url, [1, 2]).status_code == 400
    assert post_json(client, url, {"zones": "x", "unknown": 1}).status_code == 422
    assert post_json(client_for(video["leader"]), url, ANALYTICS).status_code == 403
    assert post_json(client_for(video["worker11"]), url, ANALYTICS).status_code == 403
    assert (
        post_json(client, f"/video/cameras/{video['cam21'].pk + 1000}/analytics/", ANALYTICS).status_code
        == 404
    )


def test_editor_without_script_posts_the_json_text(video):
    camera = video["cam11"]
    url = f"/video/cameras/{camera.pk}/analytics/"
    client = client_for(video["operator"])
    refused = client.post(url, {"analytics": json.dumps({"sample_fps": 99})})
    assert refused.status_code == 422
    assert "sample_fps" in refused.content.decode() and "99" in refused.content.decode()
    saved = client.post(url, {"analytics": json.dumps(ANALYTICS)})
    assert saved.status_code == 302 and saved["Location"] == f"/video/cameras/{camera.pk}/"
    assert Camera.objects.get(pk=camera.pk).analytics["zones"][0]["id"] == "zone-1"


# --- the alert queue ---------------------------------------------------------------------------


def test_queue_shows_new_alerts_in_scope_newest_first(video):
    page = client_for(video["operator"]).get("/video/alerts/").content.decode()
    ids = [int(x.split('"')[0]) for x in page.split('data-alert="')[1:]]
    assert ids == [video["alert11"].pk, video["alert12"].pk, video["alert21"].pk]
    assert "j</kbd>/<kbd>k</kbd>" in page and 'data-live="video.alert_raised"' in page
    mine = client_for(video["worker11"]).get("/video/alerts/").content.decode()
    assert f'data-alert="{video["alert11"].pk}"' in mine and f'data-alert="{video["alert12"].pk}"' not in mine
    crowd = client_for(video["operator"]).get("/video/alerts/", {"kind": "crowd"}).content.decode()
    assert crowd.count('data-alert="') == 1
    by_camera = client_for(video["operator"]).get("/video/alerts/", {"camera": "CAM21"}).content.decode()
    assert by_camera.count('data-alert="') == 1


def test_confirm_makes_a_case_and_answers_the_card(video):
    alert = video["alert11"]
    client = client_for(video["operator"])
    answer = client.post(f"/video/alerts/{alert.pk}/confirm/", HTTP_HX_REQUEST="true")
    assert answer.status_code == 200, answer.content.decode()
    alert.refresh_from_db()
    assert alert.state == AlertState.CONFIRMED and alert.case is not None
    case = Case.objects.get(pk=alert.case_id)
    assert case.source == "camera"
    card = answer.content.decode()
    assert card.startswith('<article class="alert-card alert-card-confirmed"')
    assert f"/cases/{case.number}/" in card and "data-open-case" in card
    again = client.post(f"/video/alerts/{alert.pk}/confirm/", HTTP_HX_REQUEST="true")
    assert again.status_code == 200 and Case.objects.filter(pk=case.pk).count() == 1  # the same case
    refused = client.post(f"/video/alerts/{alert.pk}/dismiss/", HTTP_HX_REQUEST="true")
    assert refused.status_code == 409 and "alert-error" in refused.content.decode()
    # Without script: back to the queue, with the message.
    other = video["alert12"]
    done = client.post(f"/video/alerts/{other.pk}/confirm/", {"next": "/video/alerts/?kind=crowd"})
    assert done.status_code == 302 and done["Location"] == "/video/alerts/?kind=crowd"
    evil = client.post(f"/video/alerts/{video['alert21'].pk}/confirm/", {"next": "https://evil.example/"})
    assert evil["Location"] == "/video/alerts/"


def test_dismiss_with_ignore_similar_tunes_the_rule(video):
    camera, alert = video["cam11"], video["alert11"]
    services.set_analytics(
        camera, ANALYTICS | {"rules": [ANALYTICS["rules"][0] | {"id": "parking-1"}]}, actor="test"
    )
    answer = client_for(video["worker11"]).post(
        f"/video/alerts/{alert.pk}/dismiss/",
        {"reason": "树影误检", "ignore_similar": "on"},
        HTTP_HX_REQUEST="true",
    )
    assert answer.status_code == 200, answer.content.decode()
    alert.refresh_from_db()
    assert alert.state == AlertState.DISMISSED and alert.dismiss_reason == "树影误检"
    ignore = Camera.objects.get(pk=camera.pk).analytics["rules"][0]["ignore"]
    assert [round(v, 4) for v in ignore[0]] == [round(v, 4) for v in alert.box]
    assert "树影误检" in answer.content.decode()
    too_long = client_for(video["operator"]).post(
        f"/video/alerts/{video['alert12'].pk}/dismiss/", {"reason": "x" * 300}, HTTP_HX_REQUEST="true"
    )
    assert too_long.status_code == 422


def test_acts_per_role_and_scope(video):
    alert = video["alert21"]
    assert client_for(video["resident"]).post(f"/video/alerts/{alert.pk}/confirm/").status_code == 403
    assert client_for(video["leader"]).post(f"/video/alerts/{alert.pk}/confirm/").status_code == 403
    assert client_for(video["worker11"]).post(f"/video/alerts/{alert.pk}/confirm/").status_code == 404
    assert client_for(video["operator"]).post(f"/video/alerts/{alert.pk}/unknown/").status_code == 404
    assert client_for(video["operator"]).get(f"/video/alerts/{alert.pk}/confirm/").status_code == 405
    assert Alert.objects.get(pk=alert.pk).state == AlertState.NEW


def test_alert_images_and_clips(video, system_user):
    alert = video["alert11"]
    url = f"/video/alerts/{alert.pk}/snapshot.jpg"
    original = client_for(video["operator"]).get(url)
    assert original.status_code == 200 and original["Content-Type"] == "image/jpeg"
    blurred = client_for(video["worker11"]).get(url)
    assert blurred.status_code == 200 and blurred.content != original.content
    assert (
        client_for(video["worker11"]).get(f"/video/alerts/{video['alert21'].pk}/snapshot.jpg").status_code
        == 404
    )
    assert client_for(video["operator"]).get(f"/video/alerts/{alert.pk}/clip.mp4").status_code == 404  # none


def test_feed_message_for_a_camera_alert(video):
    from shequ.core.models import Event
    from shequ.live.messages import to_items

    row = Event.objects.filter(type="video.alert_raised").order_by("seq").first()
    assert row is not None
    [item] = to_items([(row.seq, row.type, row.payload, row.occurred_at)])
    message = json.loads(item.data)
    assert message["title"] == "摄像头告警: 违章停车 · 摄像头CAM11"
    assert item.grid_id == video["grid11"].pk  # scoped like every feed event


def test_a_hostile_thumbnail_width_is_the_full_image_not_a_500(video):
    """Regression: ?w= with thousands of digits passed isdigit() and int() raised (a 500)."""
    alert = video["alert11"]
    client = client_for(video["operator"])
    for w in ("9" * 5000, "٣٢٠", "-1", "x"):
        answer = client.get(f"/video/alerts/{alert.pk}/snapshot.jpg", {"w": w})
        assert answer.status_code == 200 and answer["Content-Type"] == "image/jpeg", w
