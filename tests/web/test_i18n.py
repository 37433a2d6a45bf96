"""zh-Hans by default; English through the language switch, the whole page translated."""

from __future__ import annotations

import re

import pytest

from shequ.accounts.models import Department, Role

pytestmark = pytest.mark.django_db

CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")
# Chinese that stays on an English page and is not data: the switch names each language in itself,
# and the logo is the character 社.
NOT_TEXT = ['value="zh-hans" class="lang-btn">中文<', '<span class="brand-mark" aria-hidden="true">社</span>']


def untranslated(html: str) -> list[str]:
    text = html
    for mark in NOT_TEXT:
        text = text.replace(mark, "")
    return sorted({m.group(0) for m in re.finditer(r"[^<>\"]{0,20}" + CJK.pattern + r"+[^<>\"]{0,20}", text)})


def switch_to_english(client) -> None:
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert response.status_code == 302


def test_login_page_in_english(client):
    switch_to_english(client)
    page = client.get("/login/").text
    assert 'lang="en"' in page and "Community Governance Platform" in page
    assert untranslated(page) == []


@pytest.mark.parametrize(
    "role, url",
    [
        (Role.ADMINISTRATOR, "/"),
        (Role.ADMINISTRATOR, "/registry/people/"),
        (Role.ADMINISTRATOR, "/registry/households/"),
        (Role.ADMINISTRATOR, "/registry/buildings/"),
        (Role.ADMINISTRATOR, "/registry/organizations/"),
        (Role.ADMINISTRATOR, "/registry/assets/"),
        (Role.ADMINISTRATOR, "/grids/"),
        (Role.ADMINISTRATOR, "/registry/import/"),
        (Role.GRID_WORKER, "/"),
        (Role.COMMAND_OPERATOR, "/"),
        (Role.LEADER, "/"),
        (Role.RESIDENT, "/"),
    ],
)
def test_pages_render_fully_in_english(role, url, make_user, client):
    """With no register data every word on the page is UI text, so none may stay Chinese."""
    from shequ.registry.models import AssetCategory, Tag

    # Default tags and asset categories are data too (they fill the filters): set them aside.
    Tag.objects.all().delete()
    while AssetCategory.objects.exists():  # leaves first: a parent is protected by its children
        AssetCategory.objects.filter(children__isnull=True).delete()
    client.force_login(make_user(role))
    switch_to_english(client)
    response = client.get(url)
    assert response.status_code == 200
    assert 'lang="en"' in response.text
    assert untranslated(response.text) == []


def test_department_home_in_english(make_user, client):
    department = Department.objects.create(code="D1", name="Enforcement squad")
    client.force_login(make_user(Role.DEPARTMENT_HANDLER, department=department))
    switch_to_english(client)
    page = client.get("/").text
    assert "My department" in page
    assert untranslated(page) == []


def test_chinese_is_the_default(make_user, client):
    client.force_login(make_user(Role.COMMAND_OPERATOR))
    page = client.get("/").text
    assert 'lang="zh-hans"' in page and "辖区概况" in page
