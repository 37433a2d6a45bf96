"""The big screen's figures (/onemap/screen/data/): today's and the month's measures, open, overdue
and supervised cases now, the lists and snapshots, in the viewer's scope; the page only for the
command center and leaders."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.test import Client
from tests.cases.conftest import (  # noqa: F401  (fixtures)
    IN_GRID11,
    IN_GRID21,
    case_categories,
    case_departments,
    case_media,
    case_users,
    make_jpeg,
)

from shequ.accounts.models import Role
from shequ.analytics.rollups import rebuild_rollups
from shequ.cases.models import Case, Evidence
from shequ.cases.services import intake, workflow
from shequ.onemap.screen import screen_figures

pytestmark = pytest.mark.django_db
NOON = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def history(case_users, case_categories, case_departments, make_user, two_communities) -> dict[str, Any]:  # noqa: F811
    """Today in community 1: a camera report with a snapshot, a hotline report dispatched and
    overdue and supervised; in community 2 one report."""
    operator, garbage = case_users["operator"], case_categories["暴露垃圾"]
    made: dict[str, Case] = {}
    with time_machine.travel(NOON - dt.timedelta(days=1), tick=False):
        late, _ = intake.report_case(
            actor=operator,
            source="hotline",
            description="垃圾堆放",
            category=garbage,
            lon=IN_GRID11[0],
            lat=IN_GRID11[1],
        )
        workflow.file_case(late, actor=operator)
        workflow.dispatch_case(late, case_departments["sanitation"], actor=operator)
        workflow.supervise_case(late, actor=operator, level=2, reason="群众反映强烈")
        made["late"] = late
    with time_machine.travel(NOON - dt.timedelta(minutes=30), tick=False):
        made["camera"], _ = intake.report_case(
            actor=operator,
            source="camera",
            description="监控发现垃圾",
            category=garbage,
            lon=IN_GRID11[0] + 0.001,
            lat=IN_GRID11[1],
            photos=[make_jpeg()],
        )
        made["other"], _ = intake.report_case(
            actor=operator,
            source="hotline",
            description="另一社区",
            category=garbage,
            lon=IN_GRID21[0],
            lat=IN_GRID21[1],
        )
    rebuild_rollups()
    return {
        **made,
        **case_users,
        "community2_operator": make_user(Role.COMMAND_OPERATOR, grids=(two_communities["community2"],)),
    }


def test_figures_in_scope(history):
    figures = screen_figures(history["operator"], NOON)
    assert figures["today"]["reported"] == 2  # the camera report and community 2's, not yesterday's
    assert figures["now_open"] == {"open": 3, "overdue": 1, "supervised": 1}
    assert [row["number"] for row in figures["overdue"]] == [history["late"].number]
    assert [(row["number"], row["level"]) for row in figures["supervised"]] == [(history["late"].number, 2)]
    assert figures["overdue"][0]["late_minutes"] > 0
    [snapshot] = figures["snapshots"]
    assert snapshot["number"] == history["camera"].number and snapshot["url"].endswith("?thumb=1")
    assert sum(s["value"] for s in figures["by_source"]) == figures["month"]["reported"] == 3
    assert figures["trend"]["reported"][-1] == 2 and len(figures["trend"]["x"]) == 30
    assert {g["code"] for g in figures["by_grid"]} == {history["late"].grid.code, history["other"].grid.code}

    narrow = screen_figures(history["community2_operator"], NOON)
    assert narrow["now_open"] == {"open": 1, "overdue": 0, "supervised": 0}
    assert narrow["overdue"] == narrow["supervised"] == narrow["snapshots"] == []


def test_page_and_data_only_for_the_command_center(history):
    with time_machine.travel(NOON, tick=False):
        operator = client_for(history["operator"])
        page = operator.get("/onemap/screen/")
        assert page.status_code == 200 and b"screen.js" in page.content
        data = operator.get("/onemap/screen/data/")
        assert data.status_code == 200 and data["Cache-Control"] == "private, no-store"
        assert data.json()["now_open"]["open"] == 3
        photo = operator.get(data.json()["snapshots"][0]["url"])
        assert photo.status_code == 200 and photo["Content-Type"] == "image/jpeg"
        for role in ("handler", "resident", "worker11"):
            assert client_for(history[role]).get("/onemap/screen/data/").status_code == 403, role
        assert Client().get("/onemap/screen/data/").status_code == 302  # to the login page
    assert Evidence.objects.count() == 1
