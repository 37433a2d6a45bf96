"""The admin: administrators only, read-only logs, masked people saved through the services."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

from shequ.accounts.models import Role
from shequ.core.models import AuditEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(system_user, client):
    client.force_login(system_user)
    return client


def test_admin_is_for_staff_only(make_user, community, login):
    response = login(make_user(Role.COMMAND_OPERATOR)).get("/admin/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


@pytest.mark.parametrize(
    "model",
    [
        "core/auditentry",
        "core/event",
        "core/job",
        "core/calendarday",
        "accounts/user",
        "accounts/department",
        "grids/grid",
        "grids/duty",
        "grids/assignment",
        "registry/building",
        "registry/dwelling",
        "registry/household",
        "registry/tag",
        "registry/person",
        "registry/organization",
        "registry/assetcategory",
        "registry/asset",
        "registry/road",
    ],
)
def test_every_model_has_a_changelist(model, admin_client, community):
    assert admin_client.get(f"/admin/{model}/").status_code == 200


def test_grid_filters_and_search(admin_client, community):
    page = admin_client.get("/admin/grids/grid/", {"level": "community", "q": "社区1"}).text
    assert community["community1"].code in page and community["grid11"].code not in page


def test_audit_log_cannot_be_added_changed_or_deleted(admin_client, community):
    entry = AuditEntry.objects.first()
    assert admin_client.get("/admin/core/auditentry/add/").status_code == 403
    assert admin_client.post(f"/admin/core/auditentry/{entry.pk}/change/", {"action": "x"}).status_code == 403
    assert admin_client.post(f"/admin/core/auditentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    entry.refresh_from_db()
    assert entry.action != "x"


def test_person_admin_shows_masked_numbers_only(admin_client, community):
    wang = community["wang"]
    for url in ("/admin/registry/person/", f"/admin/registry/person/{wang.pk}/change/"):
        page = admin_client.get(url).text
        assert wang.id_number not in page and wang.phone not in page
        assert wang.id_number[-4:] in page
    assert admin_client.get("/admin/registry/person/add/").status_code == 403


def test_person_admin_saves_through_update_person(admin_client, community):
    wang = community["wang"]
    data = {
        "name": "王建军",
        "gender": wang.gender,
        "birth_date": wang.birth_date.isoformat(),
        "ethnicity": "汉族",
        "residence": "resident",
        "relation": "户主",
        "note": "",
    }
    response = admin_client.post(f"/admin/registry/person/{wang.pk}/change/", data)
    assert response.status_code == 302
    wang.refresh_from_db()
    assert (wang.name, wang.residence) == ("王建军", "resident")
    entry = AuditEntry.objects.filter(action="person.update", target_id=str(wang.pk)).get()
    assert entry.detail["fields"] == ["name", "relation", "residence"]


def test_person_admin_refuses_a_birth_date_against_the_id_number(admin_client, community):
    wang = community["wang"]
    data = {"name": wang.name, "gender": wang.gender, "birth_date": "1999-01-01", "residence": "registered"}
    response = admin_client.post(f"/admin/registry/person/{wang.pk}/change/", data)
    assert response.status_code == 200
    assert "出生日期与身份证号不符" in response.text
    wang.refresh_from_db()
    assert str(wang.birth_date) != "1999-01-01"


def test_unlock_action(admin_client, make_user):
    user = make_user(Role.GRID_WORKER)
    anonymous = Client()
    for _ in range(settings.LOGIN_MAX_FAILURES):
        anonymous.post("/login/", {"username": user.username, "password": "wrong-password-1"})
    user.refresh_from_db()
    assert user.locked_until is not None
    response = admin_client.post("/admin/accounts/user/", {"action": "unlock", "_selected_action": [user.pk]})
    assert response.status_code == 302
    user.refresh_from_db()
    assert (user.locked_until, user.failed_logins) == (None, 0)
    assert AuditEntry.objects.filter(action="user.unlock", target_id=str(user.pk)).exists()


def test_admin_change_is_audited(admin_client, system_user):
    response = admin_client.post(
        "/admin/core/calendarday/add/", {"date": "2027-02-06", "is_working_day": "on", "note": "春节调休"}
    )
    assert response.status_code == 302
    assert AuditEntry.objects.filter(action="admin.calendarday.add", actor=system_user).exists()
