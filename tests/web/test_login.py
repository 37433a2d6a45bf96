"""Login with lockout, logout, and the redirect of anonymous visitors."""

from __future__ import annotations

import re

import pytest
from django.conf import settings

from shequ.accounts.models import Role, User

pytestmark = pytest.mark.django_db
PASSWORD = "Good-pass-2026"


def post_login(client, username, password):
    return client.post("/login/", {"username": username, "password": password})


def test_anonymous_is_sent_to_login(client):
    response = client.get("/registry/people/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=/registry/people/")


def test_login_page_is_chinese_by_default(client):
    response = client.get("/login/")
    assert response.status_code == 200
    assert "社区综合治理平台" in response.text
    assert 'lang="zh-hans"' in response.text


def test_right_password_logs_in_and_lands_home(client, make_user):
    user = make_user(Role.COMMAND_OPERATOR)
    response = post_login(client, user.username, PASSWORD)
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200


def test_wrong_password_shows_the_generic_message(client, make_user):
    user = make_user(Role.GRID_WORKER)
    response = post_login(client, user.username, "wrong-password-1")
    assert response.status_code == 200
    assert "用户名或密码错误" in response.text
    assert "锁定" not in response.text
    # An unknown user name reads the same: no hint which names exist.
    assert "用户名或密码错误" in post_login(client, "nobody", "wrong-password-1").text


def test_lockout_message_and_the_right_password_refused_while_locked(client, make_user):
    user = make_user(Role.GRID_WORKER)
    for _ in range(settings.LOGIN_MAX_FAILURES - 1):
        assert "用户名或密码错误" in post_login(client, user.username, "wrong-password-1").text
    response = post_login(client, user.username, "wrong-password-1")
    assert "账户已锁定" in response.text
    assert re.search(r"请于 \d{2}:\d{2} 后重试或联系管理员", response.text)
    user.refresh_from_db()
    assert user.locked_until is not None

    response = post_login(client, user.username, PASSWORD)
    assert response.status_code == 200
    assert "账户已锁定" in response.text
    assert "_auth_user_id" not in client.session


def test_unlocked_account_logs_in_again(client, make_user, system_user):
    from shequ.accounts.services import unlock_user

    user = make_user(Role.GRID_WORKER)
    for _ in range(settings.LOGIN_MAX_FAILURES):
        post_login(client, user.username, "wrong-password-1")
    unlock_user(User.objects.get(pk=user.pk), actor=system_user)
    assert post_login(client, user.username, PASSWORD).status_code == 302


def test_logout_is_a_post(client, make_user):
    client.force_login(make_user(Role.LEADER))
    assert client.get("/logout/").status_code == 405
    response = client.post("/logout/")
    assert response.status_code == 302
    assert client.get("/").status_code == 302


def test_chinese_whatever_the_browser_asks_and_english_when_chosen(client):
    page = client.get("/login/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert 'lang="zh-hans"' in page.text and "登录" in page.text
    client.post("/i18n/setlang/", {"language": "en", "next": "/login/"})
    page = client.get("/login/", HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert 'lang="en"' in page.text
    client.cookies["django_language"] = "xx"
    assert 'lang="zh-hans"' in client.get("/login/").text
