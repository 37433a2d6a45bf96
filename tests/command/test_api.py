"""The instruction API, /api/command/instructions/: send (idempotent), list with filters, detail,
the acts; scope (404 outside it), roles (403), states (409), values (422); hostile input is a 4xx
with nothing written, never a 500."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from shequ.cases.models import CaseState, HistoryEntry
from shequ.command.models import Instruction
from shequ.core.models import Event

pytestmark = pytest.mark.django_db
URL = "/api/command/instructions/"
HUGE = "9" * 30


def client(user: Any) -> APIClient:
    c = APIClient(raise_request_exception=False)
    c.force_login(user)
    return c


def post(user: Any, url: str, body: Any = None, **headers: Any) -> Any:
    return client(user).post(url, json.dumps(body or {}), content_type="application/json", headers=headers)


def sent(people: dict[str, Any], flow: Any, **body: Any) -> dict[str, Any]:
    body = {"title": "清理堆物", "text": "请清理", "department": flow.department.code, **body}
    answer = post(people["operator"], URL, body)
    assert answer.status_code == 201, answer.content
    return answer.json()


def test_flow_over_the_api(people, flow):
    case = flow.to_state(CaseState.DISPATCHED)
    body = {"title": "清理", "text": "立即清理", "department": "ZF01", "case": case.pk, "urgency": "urgent"}
    first = post(people["operator"], URL, body, **{"Idempotency-Key": "abc-1"})
    assert first.status_code == 201
    data = first.json()
    assert data["state"] == "sent" and data["case"] == {"id": case.pk, "number": case.number}
    assert data["department"]["code"] == "ZF01" and data["allowed_actions"] == ["escalate", "close"]
    again = post(people["operator"], URL, body, **{"Idempotency-Key": "abc-1"})
    assert again.status_code == 200 and again.json()["id"] == data["id"]
    assert Instruction.objects.count() == 1
    pk = data["id"]

    inbox = client(people["handler"]).get(URL + "inbox/")
    assert [r["id"] for r in inbox.json()["results"]] == [pk]
    detail = client(people["handler"]).get(f"{URL}{pk}/").json()
    assert detail["allowed_actions"] == ["acknowledge", "report"]

    ack = post(people["handler"], f"{URL}{pk}/acknowledge/", {"note": "收到"})
    assert ack.status_code == 200 and ack.json()["state"] == "acknowledged"
    assert post(people["handler"], f"{URL}{pk}/acknowledge/").status_code == 409
    rep = post(people["handler"], f"{URL}{pk}/report/", {"text": "已完成"})
    assert rep.status_code == 200 and rep.json()["report"] == "已完成"
    closed = post(people["operator"], f"{URL}{pk}/close/", {})
    assert closed.status_code == 200 and closed.json()["state"] == "closed"
    actions = list(HistoryEntry.objects.filter(case=case).values_list("action", flat=True))
    assert actions[-4:] == ["instruct", "instruction_ack", "instruction_report", "instruction_close"]
    case_detail = client(people["operator"]).get(f"/api/cases/{case.pk}/").json()
    assert [h["action_label"] for h in case_detail["history"]][-4:] == [
        "下达指令",
        "签收指令",
        "指令反馈",
        "指令办结",
    ]


def test_list_filters(people, flow):
    case = flow.to_state(CaseState.FILED)
    a = sent(people, flow, case=case.pk)
    b = sent(people, flow)
    post(people["operator"], f"{URL}{b['id']}/escalate/", {"reason": "催"})
    op = client(people["operator"])

    def ids(**params: Any) -> list[int]:
        answer = op.get(URL, params)
        assert answer.status_code == 200, answer.content
        return sorted(r["id"] for r in answer.json()["results"])

    assert ids() == sorted([a["id"], b["id"]])
    assert ids(case=case.pk) == [a["id"]]
    assert ids(escalated="true") == [b["id"]]
    assert ids(state="sent") == sorted([a["id"], b["id"]])
    assert ids(state="closed") == []
    assert ids(overdue="true") == []  # not yet past 2 h
    assert ids(open="1") == sorted([a["id"], b["id"]])
    row = op.get(URL).json()["results"][0]
    assert row["id"] == b["id"]  # escalated first among the unacknowledged
    assert {"overdue", "waiting_minutes", "level", "due_at"} <= set(row)


def test_roles_and_scope(people, flow):
    ins = sent(people, flow, case=flow.report(grid="grid11").pk)
    pk = ins["id"]
    # Another department, another community's operator, a grid worker, a resident: not found.
    for who in ("handler2", "operator2", "worker11", "resident"):
        assert client(people[who]).get(f"{URL}{pk}/").status_code == 404, who
        assert post(people[who], f"{URL}{pk}/acknowledge/").status_code == 404, who
        assert post(people[who], f"{URL}{pk}/escalate/", {"reason": "x"}).status_code == 404, who
        assert client(people[who]).get(URL).json()["results"] == [], who
    # Those who see it but may not do the act: 403.
    assert post(people["operator"], f"{URL}{pk}/acknowledge/").status_code == 403
    assert post(people["handler"], f"{URL}{pk}/escalate/", {"reason": "x"}).status_code == 403
    assert post(people["handler"], f"{URL}{pk}/close/", {"note": "x"}).status_code == 403
    # Sending is the command center's and the leaders'.
    for who in ("handler", "worker11", "resident"):
        answer = post(people[who], URL, {"title": "t", "text": "x", "department": "ZF01"})
        assert answer.status_code == 403, who
    assert APIClient().get(URL).status_code in (401, 403)
    assert Instruction.objects.count() == 1
    assert Event.objects.filter(type="command.instruction").count() == 1


def test_refusals_with_reasons(people, flow):
    op = people["operator"]
    case21 = flow.report(grid="grid21")
    other = post(people["operator2"], URL, {"title": "t", "text": "x", "department": "ZF01", "case": 999999})
    assert other.status_code == 422 and other.json()["field"] == "case"
    assert (
        post(
            people["operator2"], URL, {"title": "t", "text": "x", "recipient": people["worker11"].pk}
        ).json()["field"]
        == "recipient"
    )
    for body, field in [
        ({"title": "t", "text": "x"}, "department"),
        ({"title": "t", "text": "x", "department": "NOPE"}, "department"),
        ({"title": "t", "text": "x", "recipient": 10**12}, "recipient"),
        ({"title": "t", "text": "x", "recipient": people["resident"].pk}, "recipient"),
        ({"title": "t", "text": "x", "department": "ZF01", "grid": "nope"}, "grid"),
    ]:
        answer = post(op, URL, body)
        assert answer.status_code == 422, (body, answer.content)
        assert answer.json()["field"] == field
    ok = post(people["operator2"], URL, {"title": "t", "text": "x", "department": "ZF01", "case": case21.pk})
    assert ok.status_code == 201
    pk = ok.json()["id"]
    assert post(op, f"{URL}{pk}/escalate/", {"reason": "x", "level": 3}).status_code == 200
    over = post(op, f"{URL}{pk}/escalate/", {"reason": "x"})
    assert over.status_code == 422 and over.json()["field"] == "level"
    assert post(op, f"{URL}{pk}/close/", {}).status_code == 422  # withdrawing needs a note
    assert Instruction.objects.count() == 1


@pytest.mark.parametrize(
    "body",
    [
        [],
        "text",
        {"title": "t\x00", "text": "x", "department": "ZF01"},
        {"title": "t", "text": "x", "department": "ZF\x0001"},
        {"title": "t", "text": "x", "grid": "g\x00", "department": "ZF01"},
        {"title": "t", "text": "x", "department": "ZF01", "case": HUGE},
        {"title": "t", "text": "x", "department": "ZF01", "case": "abc"},
        {"title": "t", "text": "x", "department": "ZF01", "recipient": [1]},
        {"title": "t", "text": "x", "department": {"code": "ZF01"}},
        {"title": "t", "text": "x", "department": "ZF01", "urgency": "extreme"},
        {"title": "t", "text": "x", "department": "ZF01", "unknown": 1},
        {"title": "t" * 101, "text": "x", "department": "ZF01"},
        {"title": None, "text": "x", "department": "ZF01"},
    ],
)
def test_hostile_bodies_on_send(people, flow, body):
    answer = client(people["operator"]).post(URL, json.dumps(body), content_type="application/json")
    assert answer.status_code == 400, answer.content
    assert "detail" in answer.json()
    assert not Instruction.objects.exists()


def test_hostile_ids_params_and_headers(people, flow):
    op = client(people["operator"])
    ins = sent(people, flow)
    for ref in ("abc", HUGE, "-1", "0", "%00", "1.5", "x" * 300):
        assert op.get(f"{URL}{ref}/").status_code == 404, ref
        assert post(people["operator"], f"{URL}{ref}/escalate/", {"reason": "x"}).status_code == 404, ref
    for params in (
        {"state": "bogus"},
        {"state": "sent\x00"},
        {"overdue": "maybe"},
        {"case": HUGE},
        {"case": "-5"},
        {"limit": "0"},
        {"offset": "x"},
    ):
        assert op.get(URL, params).status_code == 400, params
    bad_key = post(
        people["operator"],
        URL,
        {"title": "t", "text": "x", "department": "ZF01"},
        **{"Idempotency-Key": "k" * 81},
    )
    assert bad_key.status_code == 400
    for body in (
        {"reason": 5.5, "level": "x"},
        {"reason": "x", "level": 0},
        {"reason": "x\x00"},
        [],
        {"reason": ""},
    ):
        assert post(people["operator"], f"{URL}{ins['id']}/escalate/", body).status_code == 400, body
    assert post(people["handler"], f"{URL}{ins['id']}/report/", {"text": ["a"]}).status_code == 400
    assert post(people["handler"], f"{URL}{ins['id']}/report/", {}).status_code == 400
    raw = client(people["handler"]).post(
        f"{URL}{ins['id']}/acknowledge/", b"{not json", content_type="application/json"
    )
    assert raw.status_code == 400
    assert Instruction.objects.get().state == "sent" and Instruction.objects.get().level == 0
