"""Fixtures of the Open311 API: the case loop's users, grids and test category (tests/cases), the
category's extra questions, a key made through the services, and a client that parses answers."""

from __future__ import annotations

import json
from typing import Any
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
import pytest
from django.core.cache import cache
from django.test import Client

from shequ.cases.models import Question, QuestionDatatype
from tests.cases.conftest import (  # noqa: F401  (fixtures, registered here by import)
    IN_GRID11,
    case_categories,
    case_departments,
    case_media,
    case_users,
    flow,
)

BASE = "/open311/v2"
AT = {"lat": "36.5052", "long": "103.6051"}  # inside grid11


@pytest.fixture(autouse=True)
def _fresh_rate_windows() -> Any:
    """The rate limit counts in the cache: each test starts with none used."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def key(system_user: Any) -> tuple[Any, str]:
    from shequ.open311 import services

    return services.create_key("FixMyStreet 测试", actor=system_user)


@pytest.fixture
def api_key(key: tuple[Any, str]) -> str:
    return key[1]


@pytest.fixture
def service(flow: Any) -> Any:  # noqa: F811  (the imported fixture)
    """The test category (event-9001) with a required choice, a number, a multiple choice, a
    datetime and a note that takes no answer."""
    category = flow.category
    Question.objects.create(
        category=category,
        code="size",
        prompt="堆放面积",
        datatype=QuestionDatatype.SINGLEVALUELIST,
        required=True,
        order=1,
        choices=[{"key": "small", "name": "小于1平方米"}, {"key": "large", "name": "1平方米以上"}],
    )
    Question.objects.create(category=category, code="floors", prompt="楼层", datatype="number", order=2)
    Question.objects.create(
        category=category,
        code="kinds",
        prompt="杂物种类",
        datatype=QuestionDatatype.MULTIVALUELIST,
        order=3,
        choices=[
            {"key": "box", "name": "纸箱"},
            {"key": "bike", "name": "自行车"},
            {"key": "<&>", "name": "a<b>&c"},
        ],
    )
    Question.objects.create(category=category, code="seen", prompt="发现时间", datatype="datetime", order=4)
    Question.objects.create(
        category=category, code="note", prompt="请勿堵塞消防通道", variable=False, order=5
    )
    return category


CODE = "event-9001"


def xml(response: Any) -> Element:
    """The answer parsed by a real XML parser (defusedxml): a malformed document fails here."""
    assert response["Content-Type"].startswith("text/xml"), response["Content-Type"]
    return SafeET.fromstring(response.content)


def js(response: Any) -> Any:
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    return json.loads(response.content)


def error_of(response: Any, fmt: str) -> tuple[int, str]:
    """(code, description) of the spec's error answer, checking its shape."""
    if fmt == "xml":
        root = xml(response)
        assert root.tag == "errors" and len(root) == 1 and root[0].tag == "error"
        assert [child.tag for child in root[0]] == ["code", "description"]
        return int(root[0].findtext("code") or 0), root[0].findtext("description") or ""
    body = js(response)
    assert isinstance(body, list) and len(body) == 1 and set(body[0]) == {"code", "description"}
    return body[0]["code"], body[0]["description"]


@pytest.fixture
def client() -> Client:
    return Client()


def post(client: Client, api_key: str, fmt: str = "json", **fields: Any) -> Any:
    """POST a service request at AT with the required answer; HTTP_* names are headers."""
    headers = {k: fields.pop(k) for k in list(fields) if k.startswith("HTTP_")}
    data = {"api_key": api_key, "service_code": CODE, **AT, "attribute[size]": "small", **fields}
    return client.post(f"{BASE}/requests.{fmt}", {k: v for k, v in data.items() if v is not None}, **headers)
