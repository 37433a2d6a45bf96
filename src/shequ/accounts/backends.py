from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from shequ.accounts import services
from shequ.accounts.models import User


class LockoutModelBackend(ModelBackend):
    """Username and password, with lockout after repeated failures.

    A locked account is refused without checking the password, so guessing goes nowhere.
    """

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        if username is None or password is None:
            return None
        user = User.objects.filter(username=username).first()
        if user is None:
            User().set_password(password)  # same work as a real check: no timing oracle for names
            return None
        if services.is_locked(user):
            return None
        if not user.check_password(password) or not self.user_can_authenticate(user):
            services.record_login_failure(user)
            return None
        services.record_login_success(user)
        return user
