"""Reads of the registers, always through the caller's data scope (ARCHITECTURE §7)."""

from __future__ import annotations

from typing import Any

from django.db.models import Model, QuerySet

from shequ.accounts.models import Role, ScopeKind
from shequ.core import crypto
from shequ.grids.selectors import visible_grid_ids
from shequ.registry.identifiers import ID_KIND
from shequ.registry.models import Asset, Building, Household, Organization, Person, Tag


def _scoped[M: Model](user: Any, qs: QuerySet[M]) -> QuerySet[M]:
    ids = visible_grid_ids(user)
    return qs if ids is None else qs.filter(grid_id__in=ids)


def people_for(user: Any) -> QuerySet[Person]:
    """People the user may see: their grids' residents; a resident only themself; a department none."""
    qs = Person.objects.all()
    if user.is_authenticated and Role(user.role).scope == ScopeKind.SELF:
        return qs.filter(pk=user.person_id) if user.person_id else qs.none()
    return _scoped(user, qs)


def may_see_sensitive_tags(user: Any) -> bool:
    """Sensitive categories (community correction, ...) need an elevated role (ARCHITECTURE §7)."""
    return user.is_authenticated and Role(user.role) in {
        Role.ADMINISTRATOR,
        Role.COMMAND_OPERATOR,
        Role.GRID_WORKER,
    }


def tags_for(user: Any) -> QuerySet[Tag]:
    qs = Tag.objects.all()
    return qs if may_see_sensitive_tags(user) else qs.filter(is_sensitive=False)


def people_with_id_number(qs: QuerySet[Person], number: str) -> QuerySet[Person]:
    """The people of `qs` with this resident ID number (as parse_resident_id normalizes it): an exact
    match through the keyed hash, since the column itself is encrypted."""
    return qs.filter(id_number_hash=crypto.keyed_hash(ID_KIND, number))


def people_with_tag(qs: QuerySet[Person], user: Any, code: str) -> QuerySet[Person]:
    """The people of `qs` with this tag; a tag the user may not see (a sensitive one) matches nobody."""
    return qs.filter(tags__in=tags_for(user).filter(code=code))


def households_for(user: Any) -> QuerySet[Household]:
    if user.is_authenticated and Role(user.role).scope == ScopeKind.SELF:
        person = getattr(user, "person", None)
        return Household.objects.filter(pk=person.household_id) if person else Household.objects.none()
    return _scoped(user, Household.objects.all())


def buildings_for(user: Any) -> QuerySet[Building]:
    return _scoped(user, Building.objects.all())


def organizations_for(user: Any) -> QuerySet[Organization]:
    return _scoped(user, Organization.objects.all())


def assets_for(user: Any) -> QuerySet[Asset]:
    return _scoped(user, Asset.objects.all())


def access_person(user: Any, pk: int) -> Person | None:
    """The person if the user may see them, else None: the caller answers 404, revealing nothing."""
    return people_for(user).filter(pk=pk).first()


def building_address(code: str) -> tuple[float | None, float | None, str] | None:
    """A building's point and address by its code, for a client that names an address id (Open311
    `address_id`): a building's address is public, its people are not. None when there is none."""
    if not code or len(code) > 40:
        return None
    row = Building.objects.filter(code=code).values_list("lon", "lat", "address").first()
    return (row[0], row[1], row[2]) if row else None
