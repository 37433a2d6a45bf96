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
