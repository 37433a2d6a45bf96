from __future__ import annotations

from typing import Any

from django.db import models

from shequ.core import crypto


class EncryptedTextField(models.TextField):
    """A text column stored encrypted (core.crypto); Python code sees the plain value.

    It cannot be filtered on: pair it with a hash column filled from `crypto.keyed_hash`.
    """

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        if value is None or value == "":
            return value
        return crypto.decrypt(value)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return crypto.encrypt(str(value))
