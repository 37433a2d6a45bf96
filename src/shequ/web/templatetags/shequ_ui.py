"""Template filters for the pages: masked identifiers, figures."""

from __future__ import annotations

import contextlib

from django import template

from shequ.registry import identifiers

register = template.Library()


@register.filter
def mask_id(value: str | None) -> str:
    """An ID number as lists show it: 620***********1234. Never the plain value."""
    return identifiers.mask_resident_id(value) if value else ""


@register.filter
def mask_phone(value: str | None) -> str:
    """A phone number as dialled in China, masked: 138****5678 (stored as +86...)."""
    if not value:
        return ""
    with contextlib.suppress(identifiers.IdentifierError):  # free text: mask what is there
        value = identifiers.parse_phone(value).national
    return identifiers.mask_phone(value)


@register.filter
def km2(value: float | None) -> str:
    """An area in square metres shown in square kilometres."""
    return "" if value is None else f"{value / 1e6:.2f}"
