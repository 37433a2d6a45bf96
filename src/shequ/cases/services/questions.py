"""Extra questions of a category (附加问题): the one check of the answers a report gives to them.

A client that asks the questions (Open311's service definition attributes) passes the answers to
`intake.report_case(answers=...)`; one that does not ask them (the report page, cameras) passes
None, and nothing is required of it. Writes nothing.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from shequ.cases.models import Category, Question, QuestionDatatype
from shequ.core.errors import Invalid

STRING_MAX = 200
TEXT_MAX = 2000
MAX_CHOSEN = 100

D = QuestionDatatype


def questions_of(category: Category | None) -> list[Question]:
    """The active questions of a category, in their order."""
    if category is None:
        return []
    return list(Question.objects.filter(category=category, is_active=True).order_by("order", "pk"))


def _values(raw: Any) -> list[str]:
    items = raw if isinstance(raw, list | tuple) else [raw]
    out = []
    for item in items:
        if item is None:
            continue
        if not isinstance(item, str | int | float | Decimal) or isinstance(item, bool):
            raise TypeError
        text = str(item).strip()
        if text:
            out.append(text)
    return out


def parse_moment(text: str) -> dt.datetime | None:
    """A W3C / ISO 8601 datetime; one without an offset is read in Asia/Shanghai (the project's
    time zone). None when it is no datetime, or outside the years 1900–9998."""
    try:
        moment = parse_datetime(text)
    except ValueError:
        return None
    if moment is None or not 1900 <= moment.year <= 9998:
        return None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


def _answer(question: Question, values: list[str]) -> Any:
    """One question's answer, normalised; Invalid names the question."""
    name = f"“{question.prompt}”({question.code})"
    field = f"answers.{question.code}"
    if question.datatype != D.MULTIVALUELIST and len(values) > 1:
        raise Invalid(f"附加问题{name}只能有一个回答", field=field)
    if question.datatype == D.MULTIVALUELIST:
        if len(values) > MAX_CHOSEN:
            raise Invalid(f"附加问题{name}选项过多", field=field)
        keys = question.choice_keys()
        unknown = [v for v in values if v not in keys]
        if unknown:
            listed = ", ".join(keys)
            raise Invalid(f"附加问题{name}的回答 {unknown[0][:40]!r} 不在选项 {listed} 中", field=field)
        return list(dict.fromkeys(values))
    value = values[0]
    if question.datatype == D.SINGLEVALUELIST:
        keys = question.choice_keys()
        if value not in keys:
            raise Invalid(f"附加问题{name}的回答 {value[:40]!r} 不在选项 {', '.join(keys)} 中", field=field)
        return value
    if question.datatype == D.NUMBER:
        try:
            number = Decimal(value) if len(value) <= 40 else None
        except InvalidOperation:
            number = None
        if number is None or not number.is_finite() or not math.isfinite(float(number)):
            raise Invalid(f"附加问题{name}应为数字, 不是 {value[:40]!r}", field=field)
        return int(number) if number == number.to_integral_value() and abs(number) < 2**53 else float(number)
    if question.datatype == D.DATETIME:
        moment = parse_moment(value) if len(value) <= 40 else None
        if moment is None:
            raise Invalid(f"附加问题{name}应为 ISO 8601 日期时间, 不是 {value[:40]!r}", field=field)
        return moment.isoformat()
    limit = TEXT_MAX if question.datatype == D.TEXT else STRING_MAX
    if len(value) > limit:
        raise Invalid(f"附加问题{name}的回答过长(最多 {limit} 字)", field=field)
    return value


def check_answers(category: Category | None, answers: Mapping[str, Any]) -> dict[str, Any]:
    """The answers (question code → a value, or a list of values for a multiple choice) checked
    against the category's active questions: each required one answered, each answer of its
    datatype and, for a choice, among the choices; an unknown code is refused. Returns them
    normalised (numbers as numbers, datetimes ISO 8601 with offset, choices as their keys)."""
    if not isinstance(answers, Mapping):
        raise Invalid("附加问题的回答格式无效", field="answers")
    questions = {q.code: q for q in questions_of(category)}
    out: dict[str, Any] = {}
    for code, raw in answers.items():
        question = questions.get(str(code))
        if question is None or not question.variable:
            raise Invalid(f"类别没有附加问题 {str(code)[:40]!r}", field=f"answers.{str(code)[:40]}")
        try:
            values = _values(raw)
        except TypeError:
            field = f"answers.{question.code}"
            raise Invalid(f"附加问题 {question.code} 的回答格式无效", field=field) from None
        if values:
            out[question.code] = _answer(question, values)
    for question in questions.values():
        if question.variable and question.required and question.code not in out:
            raise Invalid(
                f"附加问题“{question.prompt}”({question.code})必须回答", field=f"answers.{question.code}"
            )
    return out
