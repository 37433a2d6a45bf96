"""Extra questions of a category (附加问题): answers checked once, in `questions.check_answers`,
by `report_case` when a caller asks them; callers that do not ask (pages, cameras) need none."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from shequ.cases.models import Case, Question
from shequ.cases.services.questions import check_answers
from shequ.core.errors import Invalid

pytestmark = pytest.mark.django_db


@pytest.fixture
def asked(flow):
    Question.objects.create(
        category=flow.category,
        code="size",
        prompt="面积",
        datatype="singlevaluelist",
        required=True,
        choices=[{"key": "s", "name": "小"}, {"key": "l", "name": "大"}],
    )
    Question.objects.create(category=flow.category, code="n", prompt="数量", datatype="number")
    Question.objects.create(
        category=flow.category, code="old", prompt="旧问题", is_active=False, required=True
    )
    return flow.category


def test_answers_are_checked_and_normalised(asked):
    assert check_answers(asked, {"size": "s", "n": ["2.50"]}) == {"size": "s", "n": 2.5}
    assert check_answers(asked, {"size": ["l"], "n": "7"}) == {"size": "l", "n": 7}
    for bad, named in (
        ({}, "size"),
        ({"size": "xl"}, "size"),
        ({"size": "s", "n": "many"}, "n"),
        ({"size": "s", "old": "x"}, "old"),
        ({"size": ["s", "l"]}, "size"),
        ({"size": {"x": 1}}, "size"),
    ):
        with pytest.raises(Invalid) as refused:
            check_answers(asked, bad)
        assert refused.value.field == f"answers.{named}", bad


def test_report_case_asks_only_when_the_caller_asks(asked, flow):
    case = flow.report()  # the report page asks no questions: nothing is required
    assert case.answers == {}
    before = Case.objects.count()
    with pytest.raises(Invalid, match="面积"):
        flow.report(answers={})
    assert Case.objects.count() == before
    assert flow.report(answers={"size": "l"}).answers == {"size": "l"}


def test_a_question_is_checked_when_saved_in_the_admin(flow):
    with pytest.raises(ValidationError):
        Question(category=flow.category, code="a", prompt="p", datatype="singlevaluelist").clean()
    with pytest.raises(ValidationError):
        Question(category=flow.category, code="a", prompt="p", choices=[{"key": "x", "name": "y"}]).clean()
    with pytest.raises(ValidationError):
        Question(category=flow.category, code="a", prompt="p", variable=False, required=True).clean()
    Question(
        category=flow.category,
        code="a",
        prompt="p",
        datatype="multivaluelist",
        choices=[{"key": "x", "name": "y"}],
    ).clean()


def test_questions_are_edited_with_their_category_and_audited(flow, client, system_user):
    from shequ.core.models import AuditEntry

    category = flow.category
    client.force_login(system_user)
    data = {
        "kind": category.kind,
        "code": category.code,
        "name": category.name,
        "parent": category.parent_id,
        "urgency": category.urgency,
        "duplicate_radius_m": 1,
        "duplicate_window_hours": 72,
        "is_active": "on",
        "time_limits-TOTAL_FORMS": 0,
        "time_limits-INITIAL_FORMS": 0,
        "questions-TOTAL_FORMS": 1,
        "questions-INITIAL_FORMS": 0,
        "questions-0-code": "depth",
        "questions-0-prompt": "深度",
        "questions-0-datatype": "singlevaluelist",
        "questions-0-variable": "on",
        "questions-0-order": 1,
        "questions-0-is_active": "on",
        "questions-0-choices": "[]",
    }
    url = f"/admin/cases/category/{category.pk}/change/"
    assert client.post(url, data).status_code == 200  # a choice question without choices is refused
    assert not Question.objects.exists()
    data["questions-0-choices"] = '[{"key": "deep", "name": "很深"}]'
    response = client.post(url, data)
    assert response.status_code == 302, response.content[:2000]
    assert Question.objects.get().choice_keys() == ["deep"]
    entry = AuditEntry.objects.get(action="admin.question.change")
    assert entry.detail["changed"] == ["depth"]


def test_the_case_page_shows_the_answers_by_prompt_and_choice_name(asked, flow, client):
    case = flow.report(answers={"size": "l", "n": "3"})
    client.force_login(flow.operator)
    page = client.get(f"/cases/{case.number}/").content.decode()
    assert "<dt>面积</dt><dd>大</dd>" in page  # the choice by its name, not its key
    assert "<dt>数量</dt><dd>3</dd>" in page
