"""Writes on the registers. Every rule about a register row lives here once: the API, the pages,
the importer and the demo generator all go through `check_*` and the `create_*`/`update_*` functions
(the row checks of kinds only imports write, buildings, households and assets, are in imports.kinds).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import translation

from shequ.core import crypto
from shequ.core.audit import audit
from shequ.core.errors import Conflict, Invalid
from shequ.grids import index as grid_index
from shequ.grids.selectors import visible_grid_ids
from shequ.registry import identifiers
from shequ.registry.ethnicities import ETHNICITY_SET
from shequ.registry.identifiers import ID_KIND, PHONE_KIND
from shequ.registry.models import Asset, Building, Household, Organization, Person, Tag


@dataclass
class Checked:
    """The outcome of checking one input row: clean values, or (field, message) problems."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def raise_first(self) -> None:
        if self.errors:
            name, message = self.errors[0]
            raise Invalid(message, field=name)


def _text(raw: Mapping[str, Any], key: str) -> str:
    value = raw.get(key)
    return "" if value is None else str(value).strip()


GENDER_WORDS = {"男": "male", "女": "female", "male": "male", "female": "female", "m": "male", "f": "female"}


@functools.cache
def residence_words() -> dict[str, str]:
    """Residence by its code or its label in either language, as plain strings (lazy labels are slow keys)."""
    words = {str(c.value): str(c.value) for c in Person.Residence}
    for language in ("zh-hans", "en"):
        with translation.override(language):
            words |= {str(c.label): str(c.value) for c in Person.Residence}
    return words


def check_person(raw: Mapping[str, Any], *, today: dt.date | None = None) -> Checked:
    """Validate a person's fields: ID number (GB 11643), phone, gender and birth date against the ID."""
    out = Checked()
    name = _text(raw, "name")
    if not name:
        out.errors.append(("name", "姓名不能为空"))
    elif len(name) > 50:
        out.errors.append(("name", "姓名过长(最多50字)"))
    out.values["name"] = name

    id_number = _text(raw, "id_number")
    resident_id = None
    if id_number:
        try:
            resident_id = identifiers.parse_resident_id(id_number, today=today)
        except identifiers.IdentifierError as exc:
            out.errors.append(("id_number", f"身份证号无效: {exc}"))
        else:
            out.values["id_number"] = resident_id.number
            out.warnings += [("id_number", w) for w in resident_id.warnings]

    gender_raw = _text(raw, "gender").lower()
    gender = GENDER_WORDS.get(gender_raw) if gender_raw else None
    if gender_raw and gender is None:
        out.errors.append(("gender", f"性别应为 男/女, 不是 {gender_raw!r}"))
    if resident_id is not None:
        if gender and gender != resident_id.gender:
            out.errors.append(("gender", "性别与身份证号不符"))
        gender = resident_id.gender
    if gender is None and not any(f == "gender" for f, _ in out.errors):
        out.errors.append(("gender", "性别不能为空(或填写身份证号)"))
    out.values["gender"] = gender

    birth = raw.get("birth_date")
    birth_date: dt.date | None = None
    if isinstance(birth, dt.datetime):
        birth_date = birth.date()
    elif isinstance(birth, dt.date):
        birth_date = birth
    elif birth not in (None, ""):
        try:
            birth_date = dt.date.fromisoformat(str(birth).strip().replace("/", "-"))
        except ValueError:
            out.errors.append(("birth_date", f"出生日期格式应为 YYYY-MM-DD, 不是 {birth!r}"))
    if resident_id is not None:
        if birth_date and birth_date != resident_id.birth_date:
            out.errors.append(("birth_date", "出生日期与身份证号不符"))
        birth_date = resident_id.birth_date
    if birth_date and birth_date > (today or dt.date.today()):
        out.errors.append(("birth_date", "出生日期不能晚于今天"))
    out.values["birth_date"] = birth_date

    phone = _text(raw, "phone")
    if phone:
        try:
            out.values["phone"] = identifiers.parse_phone(phone).number
        except identifiers.IdentifierError as exc:
            out.errors.append(("phone", f"电话号码无效: {exc}"))

    ethnicity = _text(raw, "ethnicity")
    if ethnicity and not ethnicity.endswith("族") and ethnicity + "族" in ETHNICITY_SET:
        ethnicity += "族"
    if ethnicity and ethnicity not in ETHNICITY_SET:
        out.errors.append(("ethnicity", f"民族 {ethnicity!r} 不在 GB/T 3304 民族名称中"))
    out.values["ethnicity"] = ethnicity

    residence = _text(raw, "residence") or Person.Residence.REGISTERED
    if residence not in residence_words():
        out.errors.append(("residence", f"人口类型应为 户籍人口/常住人口/流动人口, 不是 {residence!r}"))
    out.values["residence"] = residence_words().get(residence, residence)
    out.values["relation"] = _text(raw, "relation")[:20]
    out.values["note"] = _text(raw, "note")
    return out


def person_row(values: Mapping[str, Any]) -> Person:
    """An unsaved Person from checked values, with the lookup hashes filled in."""
    person = Person(**{k: v for k, v in values.items() if k not in {"tags", "household"}})
    person.id_number_hash = crypto.keyed_hash(ID_KIND, person.id_number) if person.id_number else None
    person.phone_hash = crypto.keyed_hash(PHONE_KIND, person.phone) if person.phone else ""
    return person


@transaction.atomic
def create_person(
    raw: Mapping[str, Any], *, actor: Any, household: Household | None = None, tags: Iterable[Tag] = ()
) -> Person:
    """Register a person. Refuses an ID number that is already registered (409)."""
    checked = check_person(raw)
    checked.raise_first()
    person = person_row(checked.values)
    if person.id_number_hash and Person.objects.filter(id_number_hash=person.id_number_hash).exists():
        raise Conflict("该身份证号已登记", field="id_number")
    person.household = household
    person.grid = household.grid if household else None
    person.save()
    person.tags.set(list(tags))
    audit("person.create", actor=actor, target=person)
    return person


@transaction.atomic
def update_person(person: Person, raw: Mapping[str, Any], *, actor: Any) -> Person:
    merged = {
        "name": person.name,
        "gender": person.gender,
        "birth_date": person.birth_date,
        "id_number": person.id_number,
        "phone": person.phone,
        "ethnicity": person.ethnicity,
        "residence": person.residence,
        "relation": person.relation,
        "note": person.note,
    } | dict(raw)
    checked = check_person(merged)
    checked.raise_first()
    fresh = person_row(checked.values)
    if (
        fresh.id_number_hash
        and Person.objects.filter(id_number_hash=fresh.id_number_hash).exclude(pk=person.pk).exists()
    ):
        raise Conflict("该身份证号已登记", field="id_number")
    changed = sorted(k for k in checked.values if getattr(person, k) != getattr(fresh, k))
    for name in [*checked.values, "id_number_hash", "phone_hash"]:
        setattr(person, name, getattr(fresh, name))
    person.save()
    audit("person.update", actor=actor, target=person, fields=changed)
    return person


def find_person_by_id_number(id_number: str) -> Person | None:
    """Exact lookup through the keyed hash (the column itself is encrypted)."""
    try:
        number = identifiers.parse_resident_id(id_number).number
    except identifiers.IdentifierError:
        return None
    return Person.objects.filter(id_number_hash=crypto.keyed_hash(ID_KIND, number)).first()


def reveal_person(person: Person, *, actor: Any, purpose: str) -> dict[str, str]:
    """The unmasked identifiers of a person, for a role allowed to see them; every call audited."""
    from shequ.accounts.models import Role

    if not Role(actor.role).may_reveal_personal_data:
        raise_forbidden()
    if not purpose.strip():
        raise Invalid("查看完整证件号码须说明用途", field="purpose")
    audit("person.reveal", actor=actor, target=person, purpose=purpose.strip()[:200])
    return {"id_number": person.id_number, "phone": person.phone}


def raise_forbidden() -> None:
    from shequ.core.errors import Forbidden

    raise Forbidden("您的角色无权查看完整证件号码")


def check_organization(raw: Mapping[str, Any]) -> Checked:
    out = Checked()
    name = _text(raw, "name")
    if not name:
        out.errors.append(("name", "名称不能为空"))
    out.values["name"] = name
    kind = _text(raw, "kind") or Organization.Kind.ENTERPRISE
    kinds = {c.label: c.value for c in Organization.Kind} | {c.value: c.value for c in Organization.Kind}
    if kind not in kinds:
        out.errors.append(("kind", f"组织类型 {kind!r} 无效"))
    out.values["kind"] = kinds.get(kind, kind)
    code = _text(raw, "credit_code")
    if code:
        try:
            out.values["credit_code"] = identifiers.parse_credit_code(code).number
        except identifiers.IdentifierError as exc:
            out.errors.append(("credit_code", f"统一社会信用代码无效: {exc}"))
    else:
        out.values["credit_code"] = None
    for key in ("legal_representative", "phone", "address"):
        out.values[key] = _text(raw, key)
    for key, limit in (("name", 150), ("legal_representative", 50), ("address", 200), ("phone", 30)):
        if len(out.values[key]) > limit:
            out.errors.append((key, f"过长 (最多{limit}字)"))
    if out.values["phone"]:
        try:
            identifiers.parse_phone(out.values["phone"])
        except identifiers.IdentifierError as exc:
            out.errors.append(("phone", f"电话号码无效: {exc}"))
    check_point(raw, out)
    return out


def check_point(raw: Mapping[str, Any], out: Checked) -> None:
    lon, lat = raw.get("lon"), raw.get("lat")
    if lon in (None, "") and lat in (None, ""):
        out.values["lon"] = out.values["lat"] = None
        return
    try:
        x, y = float(lon), float(lat)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        out.errors.append(("lon", "经纬度必须是数字"))
        return
    if not (-180 <= x <= 180 and -90 <= y <= 90):
        out.errors.append(("lon", f"经纬度超出范围: {x}, {y}"))
    elif not (73 <= x <= 136 and 3 <= y <= 54):
        out.warnings.append(("lon", "坐标不在中国境内, 请确认是否填反或坐标系有误(应为 WGS-84)"))
    out.values["lon"], out.values["lat"] = x, y


@transaction.atomic
def create_organization(raw: Mapping[str, Any], *, actor: Any) -> Organization:
    checked = check_organization(raw)
    checked.raise_first()
    code = checked.values["credit_code"]
    if code and Organization.objects.filter(credit_code=code).exists():
        raise Conflict("该统一社会信用代码已登记", field="credit_code")
    org = Organization(**checked.values)
    org.grid_id = grid_index.locate(org.lon, org.lat)
    visible = visible_grid_ids(actor) if hasattr(actor, "role") else None
    if visible is not None and org.grid_id not in visible:
        # A scoped writer (a grid worker) registers only what lies in the grids they answer for.
        raise Invalid("位置须在您负责的网格内(请填写经纬度, WGS-84)", field="lon")
    org.save()
    audit("organization.create", actor=actor, target=org)
    return org


@transaction.atomic
def place_in_grids(*, actor: Any) -> dict[str, int]:
    """Put every located building, organization and asset in the grid its point falls in, then
    households and people in their building's grid. Run after grids change. Returns counts moved."""
    moved = {
        name: _place_points(model)
        for name, model in (("building", Building), ("organization", Organization), ("asset", Asset))
    }
    households = list(Household.objects.filter(dwelling__isnull=False).select_related("dwelling__building"))
    changed_h = [h for h in households if h.grid_id != h.dwelling.building.grid_id]  # type: ignore[union-attr]
    for h in changed_h:
        h.grid_id = h.dwelling.building.grid_id  # type: ignore[union-attr]
    Household.objects.bulk_update(changed_h, ["grid"], batch_size=2000)
    moved["household"] = len(changed_h)
    people = list(
        Person.objects.filter(household__isnull=False)
        .select_related("household")
        .only("pk", "grid_id", "household__grid_id")
    )
    changed_p = [p for p in people if p.grid_id != p.household.grid_id]  # type: ignore[union-attr]
    for p in changed_p:
        p.grid_id = p.household.grid_id  # type: ignore[union-attr]
    Person.objects.bulk_update(changed_p, ["grid"], batch_size=2000)
    moved["person"] = len(changed_p)
    audit("registry.place_in_grids", actor=actor, moved=moved)
    return moved


def _place_points(model: Any) -> int:
    rows = list(model.objects.only("pk", "lon", "lat", "grid_id"))
    found = grid_index.locate_many([r.lon for r in rows], [r.lat for r in rows])
    changed = [r for r, g in zip(rows, found, strict=True) if r.grid_id != g]
    for r, g in zip(rows, found, strict=True):
        r.grid_id = g
    model.objects.bulk_update(changed, ["grid"], batch_size=2000)
    return len(changed)
