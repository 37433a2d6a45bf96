"""The instruction pages: the command center's list (ages, overdue, escalate, send), the
recipient's inbox (acknowledge, report), one instruction, the case page's partial (HTMX send);
who may open which (403), what is out of scope (404), junk refs (404, never 500)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.test import Client

from shequ.accounts.models import Department
from shequ.cases.models import CaseState, HistoryEntry
from shequ.command import services
from shequ.command.models import Instruction, InstructionState
from shequ.grids.models import Grid

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 5, 11, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def page(user: Any) -> Client:
    c = Client(raise_request_exception=False)
    c.force_login(user)
    return c


def send(people: dict[str, Any], flow: Any, **kwargs: Any) -> Instruction:
    kwargs.setdefault("department", flow.department)
    ins, _created = services.send_instruction(
        actor=people["operator"], title="清理堆物", text="请清理", **kwargs
    )
    return ins


def test_center_shows_ages_overdue_and_escalates(people, flow):
    with time_machine.travel(T0, tick=False):
        ins = send(people, flow, urgency="urgent")
    with time_machine.travel(T0 + dt.timedelta(minutes=25), tick=False):
        html = page(people["operator"]).get("/command/").content.decode()
    assert "已等待 25 分钟" in html and "row-overdue" in html and 'data-overdue-count="1"' in html
    assert 'id="send-instruction"' in html
    answer = page(people["operator"]).post(
        f"/command/{ins.pk}/act/escalate/", {"escalate-reason": "超时未签收", "next": "/command/"}
    )
    assert answer.status_code == 302 and answer["Location"] == "/command/"
    ins.refresh_from_db()
    assert ins.level == 1
    listing = page(people["operator"]).get("/command/", {"state": "sent"}).content.decode()
    assert "升级1级" in listing


def test_center_sends_a_free_standing_instruction(people, flow):
    c = page(people["operator"])
    form = {
        "title": "夜间巡查",
        "text": "今晚加强巡查",
        "urgency": "normal",
        "department": "ZF01",
        "idempotency_key": "k1",
    }
    answer = c.post("/command/send/", form)
    assert answer.status_code == 302
    assert c.post("/command/send/", form).status_code == 302  # a double submit sends one
    assert Instruction.objects.count() == 1
    refused = c.post("/command/send/", {"title": "x", "text": "y", "urgency": "normal"})
    assert refused.status_code == 422 and "请指定接收部门或接收人" in refused.content.decode()
    assert Instruction.objects.count() == 1


def test_inbox_acknowledge_and_report(people, flow):
    ins = send(people, flow)
    other = send(people, flow, department=flow.departments["sanitation"])
    c = page(people["handler"])
    html = c.get("/command/inbox/").content.decode()
    assert f'data-instruction="{ins.pk}"' in html and f'data-instruction="{other.pk}"' not in html
    # Polled, and refreshed at once when the live feed brings an instruction (app.ts, data-live).
    assert 'hx-trigger="every 15s, live" data-live="command.instruction"' in html
    partial = c.get("/command/inbox/", headers={"HX-Request": "true"})
    assert partial.status_code == 200 and partial.content.decode().startswith("<tbody")
    ack = c.post(f"/command/{ins.pk}/act/acknowledge/", {"next": "/command/inbox/"})
    assert ack.status_code == 302 and ack["Location"] == "/command/inbox/"
    empty = c.post(f"/command/{ins.pk}/act/report/", {"report-text": ""})
    assert empty.status_code == 422
    done = c.post(f"/command/{ins.pk}/act/report/", {"report-text": "已清理完毕"})
    assert done.status_code == 302 and done["Location"] == f"/command/{ins.pk}/"
    ins.refresh_from_db()
    assert ins.state == InstructionState.REPORTED and ins.report == "已清理完毕"
    # Offsite `next` is ignored.
    ins2 = send(people, flow)
    away = c.post(f"/command/{ins2.pk}/act/acknowledge/", {"next": "https://evil.example/"})
    assert away["Location"] == f"/command/{ins2.pk}/"


def test_refused_acts_on_pages(people, flow):
    ins = send(people, flow)
    assert page(people["handler2"]).post(f"/command/{ins.pk}/act/acknowledge/").status_code == 404
    assert page(people["handler2"]).get(f"/command/{ins.pk}/").status_code == 404
    refused = page(people["handler"]).post(f"/command/{ins.pk}/act/escalate/", {"escalate-reason": "x"})
    assert refused.status_code == 403
    services.acknowledge(ins, actor=people["handler"])
    again = page(people["handler"]).post(f"/command/{ins.pk}/act/acknowledge/")
    assert again.status_code == 409 and "不能签收" in again.content.decode()
    ins.refresh_from_db()
    assert ins.level == 0


def test_who_opens_which_page(people, flow):
    for who in ("handler", "worker11", "resident"):
        assert page(people[who]).get("/command/").status_code == 403, who
        assert page(people[who]).post("/command/send/", {"title": "t"}).status_code == 403, who
    assert page(people["resident"]).get("/command/inbox/").status_code == 403
    for who in ("operator", "leader", "admin"):
        html = page(people[who]).get("/command/").content.decode()
        assert 'href="/command/"' in html, who  # the nav link
    assert 'href="/command/inbox/"' in page(people["handler"]).get("/command/inbox/").content.decode()
    assert Client().get("/command/").status_code == 302  # log in first


def test_junk_refs_are_not_found(people, flow):
    c = page(people["operator"])
    for ref in ("abc", "9" * 30, "-1", "%00", "1.5"):
        assert c.get(f"/command/{ref}/").status_code == 404, ref
        assert c.post(f"/command/{ref}/act/escalate/", {"escalate-reason": "x"}).status_code == 404, ref
    ins = send(people, flow)
    assert c.post(f"/command/{ins.pk}/act/bogus/").status_code == 404
    assert c.get(f"/command/{ins.pk}/act/escalate/").status_code == 405
    assert c.post("/command/send/", {"title": "t\x00", "text": "x", "department": "ZF01"}).status_code == 422
    assert (
        c.post(
            "/command/send/", {"title": "t", "text": "x", "department": "ZF01", "case": "9" * 30}
        ).status_code
        == 422
    )


def test_case_page_partial_lists_and_sends_over_htmx(people, flow):
    case = flow.to_state(CaseState.DISPATCHED)
    c = page(people["operator"])
    html = c.get(f"/cases/{case.number}/").content.decode()
    assert 'id="case-instructions"' in html and 'hx-post="/command/send/"' in html
    answer = c.post(
        "/command/send/",
        {"title": "现场核实", "text": "请到现场", "urgency": "urgent", "department": "ZF01", "case": case.pk},
        headers={"HX-Request": "true"},
    )
    assert answer.status_code == 200
    body = answer.content.decode()
    assert body.startswith('<section class="panel" id="case-instructions">') and "现场核实" in body
    assert "指令已下达" in body
    assert HistoryEntry.objects.filter(case=case, action="instruct").count() == 1
    refused = c.post(
        "/command/send/",
        {"title": "", "text": "x", "urgency": "normal", "case": case.pk},
        headers={"HX-Request": "true"},
    )
    assert refused.status_code == 422 and 'id="case-instructions"' in refused.content.decode()
    # The handler sees the instruction on the case page, without the form; the timeline names it.
    handler_html = page(people["handler"]).get(f"/cases/{case.number}/").content.decode()
    assert "现场核实" in handler_html and 'hx-post="/command/send/"' not in handler_html
    assert "下达指令" in handler_html
    # A case the sender cannot see: not found.
    case21 = flow.report(grid="grid21")
    hidden = page(people["operator2"]).post(
        "/command/send/",
        {"title": "t", "text": "x", "urgency": "normal", "department": "ZF01", "case": flow.report().pk},
    )
    assert hidden.status_code == 404
    assert page(people["operator2"]).get(f"/cases/{case21.number}/").status_code == 200


def test_pages_render_in_english(people, flow):
    from tests.web.test_i18n import switch_to_english, untranslated

    case = flow.to_state(CaseState.DISPATCHED)
    # Data in Chinese (titles, names) is not UI text: ASCII data, so only untranslated UI shows.
    ins, _created = services.send_instruction(
        actor=people["operator"],
        title="check",
        text="go",
        department=flow.department,
        case=case,
        urgency="urgent",
    )
    services.escalate(ins, actor=people["operator"], reason="late")
    for who, url in (
        ("operator", "/command/"),
        ("operator", f"/command/{ins.pk}/"),
        ("handler", "/command/inbox/"),
    ):
        c = page(people[who])
        switch_to_english(c)
        html = c.get(url).content.decode()
        # others' nav links (一张图, 上岗) and data (department, grid and people's names) aside
        data = [
            *Department.objects.values_list("name", flat=True),
            *Grid.objects.values_list("name", flat=True),
        ]
        data += [n for n in get_user_model().objects.values_list("display_name", flat=True) if n]
        data += ["一张图", "上岗"]
        leftover = [t for t in untranslated(html) if not any(n in t for n in data)]
        assert leftover == [], (who, url, leftover)
