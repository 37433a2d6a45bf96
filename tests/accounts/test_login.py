"""Login with lockout, password policy, session timeout."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth import authenticate

from shequ.accounts.models import Role
from shequ.accounts.services import create_user
from shequ.core.errors import Invalid
from shequ.core.models import AuditEntry

pytestmark = pytest.mark.django_db


def test_ten_wrong_passwords_lock_the_account_and_the_right_one_is_then_refused(make_user):
    user = make_user(Role.GRID_WORKER, username="wang")
    for _ in range(10):
        assert authenticate(username="wang", password="Wrong-pass-0000") is None
    user.refresh_from_db()
    assert user.locked_until is not None
    assert user.failed_logins == settings.LOGIN_MAX_FAILURES  # locked: later guesses are not even checked
    assert authenticate(username="wang", password="Good-pass-2026") is None
    assert AuditEntry.objects.filter(action="login.locked", target_id=str(user.pk)).count() == 1


def test_lock_expires_and_a_good_login_resets_the_count(make_user):
    user = make_user(Role.GRID_WORKER, username="li")
    for _ in range(settings.LOGIN_MAX_FAILURES):
        authenticate(username="li", password="nope")
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES + 1)
    with time_machine.travel(later):
        assert authenticate(username="li", password="Good-pass-2026") == user
    user.refresh_from_db()
    assert (user.failed_logins, user.locked_until) == (0, None)


def test_failures_below_the_limit_do_not_lock(make_user):
    make_user(Role.GRID_WORKER, username="zhao")
    for _ in range(settings.LOGIN_MAX_FAILURES - 1):
        authenticate(username="zhao", password="nope")
    assert authenticate(username="zhao", password="Good-pass-2026") is not None


def test_unknown_user_is_refused_without_error(db):
    assert authenticate(username="nobody", password="whatever") is None


@pytest.mark.parametrize(
    "password", ["short1A!", "alllowercaseletters", "1234567890123", "password123", "Abcdefghijk"]
)
def test_password_policy_refuses_weak_passwords(system_user, password):
    with pytest.raises(Invalid) as err:
        create_user(username="weak", password=password, role=Role.RESIDENT, actor=system_user)
    assert err.value.field == "password"


def test_department_handler_needs_a_department(system_user):
    with pytest.raises(Invalid):
        create_user(username="h", password="Good-pass-2026", role=Role.DEPARTMENT_HANDLER, actor=system_user)


def test_session_times_out_when_idle(client, make_user):
    make_user(Role.COMMAND_OPERATOR, username="op")
    assert client.login(username="op", password="Good-pass-2026")
    assert settings.SESSION_SAVE_EVERY_REQUEST and settings.SESSION_COOKIE_AGE == 30 * 60
    from django.contrib.sessions.models import Session

    session = Session.objects.get()
    assert (
        dt.timedelta(minutes=29) < session.expire_date - dt.datetime.now(dt.UTC) <= dt.timedelta(minutes=30)
    )
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=31)):
        assert client.get("/").status_code == 302  # back to the login page


def test_production_settings_hash_passwords_with_a_slow_hasher():
    # Tests swap in a fast hasher (tests/conftest.py); the shipped settings must not.
    from shequ import settings as shipped

    assert shipped.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.PBKDF2PasswordHasher"
