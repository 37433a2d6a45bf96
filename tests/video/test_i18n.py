"""The video pages in English (docs/pages.md, "Translations"): the wall, a camera with its zone and
rule editor, and the alert queue with alerts of every kind and state leave no Chinese UI text.

Data is ASCII (grid, camera, zone and user names), so any Chinese left on the page is UI text that
the English catalog misses. The editor's labels travel in a json_script block, which escapes
non-ASCII characters: they are checked in the parsed JSON.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone, translation

from shequ.accounts.models import Role
from shequ.video import services
from shequ.video.models import AlertKind, AlertState
from tests.cases.conftest import case_categories, case_departments  # noqa: F401 (fixtures)
from tests.conftest import square
from tests.video.conftest import frame_jpeg
from tests.web.test_i18n import CJK, switch_to_english, untranslated

pytestmark = pytest.mark.django_db

LON, LAT = 103.70, 36.60  # inside the test grid below
# A schedule and the ignore list: the editor then shows its time windows and ignored boxes.
WEEKDAYS = [{"days": [1, 2, 3, 4, 5], "start": "22:00", "end": "06:00"}]
ANALYTICS = {
    "zones": [
        {"id": "gate", "name": "East gate", "polygon": [[0.1, 0.1], [0.6, 0.1], [0.6, 0.6], [0.1, 0.6]]},
        {"id": "yard", "name": "Yard", "polygon": [[0.5, 0.5], [0.9, 0.5], [0.9, 0.9]]},
    ],
    "rules": [
        {"id": "park1", "kind": "parking", "zone": "gate", "ignore": [[0.2, 0.2, 0.3, 0.3]]},
        {"id": "vend1", "kind": "vending", "zone": "gate", "schedule": WEEKDAYS},
        {"id": "crowd1", "kind": "crowd", "zone": "yard", "min_people": 4},
        {"id": "debris1", "kind": "debris", "zone": "yard"},
        {"id": "intr1", "kind": "intrusion", "zone": "yard", "schedule": WEEKDAYS},
    ],
}
ORIGIN = {"external": "webhook", "offline": "health"}


@pytest.fixture
def english(
    make_user: Any,
    system_user: Any,
    case_departments: Any,  # noqa: F811
    case_categories: Any,  # noqa: F811
) -> dict[str, Any]:
    from shequ.grids.services import save_grid

    street = save_grid(code="930000001", name="Test street", actor=system_user)
    grid = save_grid(
        code="930000001001",
        name="Test grid",
        parent=street,
        actor=system_user,
        geometry=square(LON - 0.01, LAT - 0.01, 0.02),
    )
    operator = make_user(Role.COMMAND_OPERATOR, grids=(street,), display_name="Operator One")
    gate = services.register_camera(
        actor=system_user, code="CAM-GATE", name="Gate camera", lon=LON, lat=LAT, address="1 Test Road"
    )
    yard = services.register_camera(actor=system_user, code="CAM-YARD", name="Yard camera", lon=LON, lat=LAT)
    services.set_analytics(gate, ANALYTICS, actor=system_user)
    services.record_status(gate.pk, "online")
    services.record_status(yard.pk, "offline", "timeout")
    services.store_latest_snapshot(gate.pk, frame_jpeg())
    alerts = {}
    for n, kind in enumerate(AlertKind.values):
        alerts[kind], _created = services.raise_alert(
            gate,
            origin=ORIGIN.get(kind, "engine"),
            source_id=f"en-{kind}",
            kind=kind,
            detected_at=timezone.now() - dt.timedelta(minutes=n + 1),
            rule_id=f"{kind}1" if kind not in ORIGIN else "",
            zone_id="gate",
            zone_name="East gate",
            label="car",
            confidence=0.8,
            box=(0.3, 0.4, 0.6, 0.8),
            description="test",
            snapshot=frame_jpeg(n),
        )
    # One of each state as well: confirmed (a case), dismissed with a reason, filed by its rule.
    services.confirm_alert(alerts["parking"], actor=operator)
    services.dismiss_alert(alerts["crowd"], actor=operator, reason="shadow")
    services.raise_alert(
        gate,
        origin="engine",
        source_id="en-auto",
        kind="debris",
        detected_at=timezone.now(),
        rule_id="debris1",
        auto_case=True,
    )
    assert {a.state for a in gate.alerts.all()} == set(AlertState.values)
    client = Client()
    client.force_login(operator)
    switch_to_english(client)
    return {"client": client, "gate": gate, "grid": grid, "operator": operator}


def leftover(html: str) -> list[str]:
    assert 'lang="en"' in html
    return untranslated(html)


def test_wall_in_english(english):
    html = english["client"].get("/video/").content.decode()
    assert "Video wall" in html and "Gate camera" in html and "Offline" in html
    assert leftover(html) == []


def test_camera_page_and_editor_in_english(english):
    html = english["client"].get(f"/video/cameras/{english['gate'].pk}/").content.decode()
    assert "Zones and rules" in html and "Live view" in html and "Illegal parking" in html
    assert leftover(html) == []
    # The editor's own texts (json_script escapes non-ASCII, so the scan above cannot see them).
    config = re.search(r'<script id="video-editor-config" type="application/json">(.*?)</script>', html, re.S)
    assert config is not None
    spec = json.loads(config.group(1))
    shown = {
        "kinds": {k: v["label"] for k, v in spec["kinds"].items()},
        "fields": [f["label"] for kind in spec["kinds"].values() for f in kind["fields"]],
        "common": [f["label"] for f in spec["common"]],
        "labels": spec["labels"],
        "strings": spec["strings"],
    }
    assert not CJK.search(json.dumps(shown, ensure_ascii=False)), shown
    assert shown["kinds"] == {
        "parking": "Illegal parking",
        "vending": "Street vending",
        "crowd": "Crowd gathering",
        "debris": "Dumped rubbish",
        "intrusion": "Intrusion",
    }
    assert spec["strings"]["days"].split(",")[0] == "Mo" and len(spec["strings"]["day_names"].split(",")) == 7
    assert spec["strings"]["zones"] == "Zones (%(n)s)"


def test_alert_queue_in_english(english):
    client = english["client"]
    new = client.get("/video/alerts/").content.decode()
    assert "Alert review" in new and "Dismiss as false positive" in new and "Confirm" in new
    for label in ("Street vending", "Dumped rubbish", "Intrusion", "External alert", "Camera offline"):
        assert label in new
    assert leftover(new) == []
    everything = client.get("/video/alerts/", {"state": "all"}).content.decode()
    for label in ("Confirmed", "False positive", "Filed automatically", "Illegal parking", "Crowd gathering"):
        assert label in everything
    assert leftover(everything) == []


def test_refusals_in_english(english):
    """A refused act answers in the page's language (the service's message is translated)."""
    client = english["client"]
    crowd = english["gate"].alerts.get(source_id="en-crowd")
    answer = client.post(f"/video/alerts/{crowd.pk}/confirm/", headers={"HX-Request": "true"})
    assert answer.status_code == 409
    assert "dismissed as a false positive" in answer.content.decode()
    assert untranslated(answer.content.decode()) == []
    bad = client.post(
        f"/video/cameras/{english['gate'].pk}/analytics/", "[1]", content_type="application/json"
    )
    assert (
        bad.status_code == 400 and bad.json()["errors"][0]["message"] == "The settings must be a JSON object"
    )


def test_feed_title_and_map_popup_in_english(english):
    from shequ.live.messages import _title
    from shequ.onemap.views import map_config

    with translation.override("en"):
        title = _title("video.alert_raised", {"kind": "vending"}, None, None, camera="Gate camera")
        strings = map_config(english["operator"])["strings"]
    assert title == "Camera alert: Street vending · Gate camera"
    assert strings["open_camera"] == "View camera"
