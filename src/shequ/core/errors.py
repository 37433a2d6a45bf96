"""Errors a service raises for a refused request; the API and pages turn them into clear answers."""

from __future__ import annotations


class DomainError(Exception):
    """A request the rules refuse. `status` is the HTTP status the API answers with."""

    status = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class Invalid(DomainError):
    """Well-formed but unacceptable input (a bad ID number, a self-intersecting grid)."""

    status = 422


class Refused(Invalid):
    """Invalid with every problem of the input listed: `errors` is [{"field", "message"}]."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        first = errors[0]
        super().__init__(first["message"], field=first["field"] or None)
        self.errors = errors


class Conflict(DomainError):
    """Not allowed in the current state (an illegal transition, a duplicate)."""

    status = 409


class Forbidden(DomainError):
    """Outside the actor's role or data scope."""

    status = 403
