"""The five register kinds as importers. People is the big one (a community's whole population in one
sheet); the other kinds are small and share the generic create/update of the engine.

Buildings, households and assets are written only by imports (and the admin), so their row checks
(`check_building`, `check_household`, `check_asset`) live here; people and organizations, which the
API also writes, use `services.check_person` / `check_organization`.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any, ClassVar

from django.db import models

from shequ.accounts.models import Department
from shequ.grids import index as grid_index
from shequ.grids.models import Grid
from shequ.registry.imports.engine import BATCH, DEFAULT_SOURCE, Importer, ProgressFn, chunks
from shequ.registry.imports.reading import CellError, date_value, long_number, number_value, text
from shequ.registry.models import (
    Asset,
    AssetCategory,
    Building,
    Dwelling,
    Household,
    Organization,
    Person,
    Tag,
)
from shequ.registry.services import Checked, check_organization, check_person, check_point, person_row

TAG_SEPARATORS = re.compile(r"\s*[、,，;；]\s*")
Update = tuple[models.Model, dict[str, Any], list[str]]


def _choice(raw: str, choices: type[models.TextChoices], default: str) -> str | None:
    """A choice by its Chinese label or its code; None when it is neither."""
    if not raw:
        return default
    for choice in choices:
        if raw in (choice.label, choice.value):
            return str(choice.value)
    return None


def _by_code_or_name[M: models.Model](rows: Any) -> dict[str, M]:
    out: dict[str, M] = {}
    for row in rows:
        out.setdefault(row.name, row)
        out[row.code.lower()] = row
    return out


class LocatedImporter(Importer):
    """Kinds with a point: the grid is located from it, for all rows at once."""

    def after_check(self, checked: list[tuple[int, dict[str, Any]]]) -> None:
        found = grid_index.locate_many([v["lon"] for _, v in checked], [v["lat"] for _, v in checked])
        for (_, values), grid_id in zip(checked, found, strict=True):
            values["grid_id"] = grid_id

    def point(self, number: int, raw: dict[str, Any], out: Checked) -> None:
        check_point({"lon": text(raw.get("lon")), "lat": text(raw.get("lat"))}, out)


# --- people ------------------------------------------------------------------------------------


class PeopleImporter(Importer):
    kind = "people"
    model = Person
    lookups = (("id_number_hash",), ("source", "source_id"))
    key_columns: ClassVar = {("id_number_hash",): "id_number", ("source", "source_id"): "source_id"}
    writes: ClassVar = {
        "name": ("name",),
        "gender": ("gender",),
        "birth_date": ("birth_date",),
        "id_number": ("id_number", "id_number_hash", "gender", "birth_date"),
        "phone": ("phone", "phone_hash"),
        "ethnicity": ("ethnicity",),
        "residence": ("residence",),
        "relation": ("relation",),
        "note": ("note",),
        "household": ("household_id", "grid_id"),
        "tags": ("_tags",),
        "source": ("source",),
        "source_id": ("source_id",),
    }
    TEXT_FIELDS = ("name", "gender", "ethnicity", "residence", "relation", "note")

    def prepare(self, rows: list[tuple[int, dict[str, Any]]]) -> None:
        self.tags: dict[str, int] = {}
        for tag in Tag.objects.all():
            self.tags.setdefault(tag.name, tag.pk)
            self.tags[tag.code.lower()] = tag.pk
        numbers = {text(raw.get("household")) for _, raw in rows} - {""}
        self.households: dict[str, tuple[int, int | None]] = {}
        for part in chunks(sorted(numbers)):
            for pk, number, grid_id in Household.objects.filter(number__in=part).values_list(
                "pk", "number", "grid_id"
            ):
                self.households[number] = (pk, grid_id)
        self.tags_of: dict[int, frozenset[int]] = {}

    def check(self, number: int, raw: dict[str, Any]) -> dict[str, Any] | None:
        ok = True
        r: dict[str, Any] = {f: text(raw.get(f)) for f in self.TEXT_FIELDS}
        for column, what in (("id_number", "身份证号"), ("phone", "联系电话")):
            try:
                r[column] = long_number(raw.get(column), what)
            except CellError as exc:
                self.error(number, column, raw.get(column), str(exc))
                r[column], ok = "", False
            if "*" in r[column]:
                self.error(number, column, r[column], f"{what}含 *, 是导出时脱敏的号码, 不能导入")
                r[column], ok = "", False
        try:
            r["birth_date"] = date_value(raw.get("birth_date"), "出生日期")
        except CellError as exc:
            self.error(number, "birth_date", raw.get("birth_date"), str(exc))
            r["birth_date"], ok = None, False
        checked = check_person(r)
        for column, message in checked.errors:
            self.error(number, column, r.get(column), message)
        for column, message in checked.warnings:
            self.warning(number, column, r.get(column), message)

        values: dict[str, Any] = {}
        self.source(raw, values)
        if not r["id_number"] and not values["source_id"] and ok:
            self.error(number, "id_number", "", "身份证号和来源编号至少填一项, 以便重新导入时找到同一人")
            ok = False

        tag_ids: set[int] = set()
        for name in TAG_SEPARATORS.split(text(raw.get("tags"))):
            if not name:
                continue
            tag_id = self.tags.get(name, self.tags.get(name.lower()))
            if tag_id is None:
                self.error(number, "tags", name, f"未知标签 “{name}”")
                ok = False
            else:
                tag_ids.add(tag_id)

        household = text(raw.get("household"))
        household_id = grid_id = None
        if len(household) > 40:
            self.error(number, "household", household, "户号过长 (最多40字)")
            ok = False
        elif household in self.households:
            household_id, grid_id = self.households[household]
            if not self.ctx.in_scope(grid_id):
                self.error(number, "household", household, "该户不在您管辖的网格内")
                ok = False
        if not ok or not checked.ok:
            return None

        person = person_row(checked.values)
        values.update(
            name=person.name,
            gender=person.gender,
            birth_date=person.birth_date,
            id_number=person.id_number,
            id_number_hash=person.id_number_hash,
            phone=person.phone,
            phone_hash=person.phone_hash,
            ethnicity=person.ethnicity,
            residence=person.residence,
            relation=person.relation,
            note=person.note,
            household_id=household_id,
            grid_id=grid_id,
            _household=household,
            _tags=frozenset(tag_ids),
            _person=person,
        )
        return values

    def base_queryset(self) -> models.QuerySet[Any]:
        return Person.objects.all()

    def fetch(self, lookup: tuple[str, ...], keys: set[tuple[Any, ...]]) -> dict[tuple[Any, ...], Any]:
        found = super().fetch(lookup, keys)
        if "tags" in self.ctx.table.headers:
            through = Person.tags.through
            pks = sorted(p.pk for p in found.values())
            sets: dict[int, set[int]] = defaultdict(set)
            for part in chunks(pks):
                for person_id, tag_id in through.objects.filter(person_id__in=part).values_list(
                    "person_id", "tag_id"
                ):
                    sets[person_id].add(tag_id)
            self.tags_of.update({pk: frozenset(sets.get(pk, ())) for pk in pks})
        return found

    def changes(self, instance: Any, values: dict[str, Any], fields: list[str]) -> list[str]:
        changed = super().changes(instance, values, fields)
        if "household_id" in fields and values["_household"] and values["household_id"] is None:
            changed += ["household_id", "grid_id"]  # a household this sheet creates
        if "_tags" in fields and self.tags_of.get(instance.pk, frozenset()) != values["_tags"]:
            changed.append("_tags")
        return sorted(set(changed))

    def write(self, creates: list[dict[str, Any]], updates: list[Update], progress: ProgressFn) -> None:
        new_numbers = sorted(
            {v["_household"] for v in (*creates, *(u[1] for u in updates)) if v["_household"]}
            - set(self.households)
        )
        Household.objects.bulk_create(
            [Household(number=n, source=DEFAULT_SOURCE, source_id=n) for n in new_numbers], batch_size=BATCH
        )
        for part in chunks(new_numbers):
            for pk, number in Household.objects.filter(number__in=part).values_list("pk", "number"):
                self.households[number] = (pk, None)
        if new_numbers:
            self.ctx.report.also_created["households"] = len(new_numbers)

        people = []
        for values in creates:
            person = values["_person"]
            person.source, person.source_id = values["source"], values["source_id"]
            if values["_household"]:
                person.household_id, person.grid_id = self.households[values["_household"]]
            people.append(person)
        total = len(people) + len(updates)
        for done, part in enumerate(chunks(people), start=1):
            Person.objects.bulk_create(part)
            progress(min(done * BATCH, len(people)), total, "写入中")
        through = Person.tags.through
        through.objects.bulk_create(
            [
                through(person_id=p.pk, tag_id=t)
                for p, v in zip(people, creates, strict=True)
                for t in v["_tags"]
            ],
            batch_size=BATCH,
        )

        for _instance, values, changed in updates:
            if "household_id" in changed and values["_household"]:
                values["household_id"], values["grid_id"] = self.households[values["_household"]]
        self.bulk_update(updates)
        retagged = [(inst.pk, v["_tags"]) for inst, v, changed in updates if "_tags" in changed]
        for part in chunks(retagged):
            through.objects.filter(person_id__in=[pk for pk, _ in part]).delete()
            through.objects.bulk_create([through(person_id=pk, tag_id=t) for pk, tags in part for t in tags])


# --- households --------------------------------------------------------------------------------


class HouseholdsImporter(Importer):
    kind = "households"
    model = Household
    lookups = (("number",),)
    key_columns: ClassVar = {("number",): "number"}
    writes: ClassVar = {
        "address": ("address",),
        "grid": ("grid_id",),
        "building": ("dwelling_id", "grid_id"),
        "unit": ("dwelling_id",),
        "dwelling": ("dwelling_id",),
        "source": ("source",),
        "source_id": ("source_id",),
    }

    def prepare(self, rows: list[tuple[int, dict[str, Any]]]) -> None:
        self.grids = dict(Grid.objects.values_list("code", "pk"))
        codes = {text(raw.get("building")) for _, raw in rows} - {""}
        self.buildings: dict[str, tuple[int, int | None]] = {}
        self.dwellings: dict[tuple[int, str, str], int] = {}
        for part in chunks(sorted(codes)):
            for pk, code, grid_id in Building.objects.filter(code__in=part).values_list(
                "pk", "code", "grid_id"
            ):
                self.buildings[code] = (pk, grid_id)
        ids = [pk for pk, _ in self.buildings.values()]
        for id_part in chunks(ids):
            for pk, building_id, unit, number in Dwelling.objects.filter(building_id__in=id_part).values_list(
                "pk", "building_id", "unit", "number"
            ):
                self.dwellings[building_id, unit, number] = pk

    def check(self, number: int, raw: dict[str, Any]) -> dict[str, Any] | None:
        out = check_household({k: text(v) for k, v in raw.items()}, self.grids, self.buildings)
        values = self.accept(number, raw, out)
        if values is None:
            return None
        grid_id = values.get("grid_id")
        if grid_id is not None and not self.ctx.in_scope(grid_id):
            self.error(number, "grid", raw.get("grid"), "该网格不在您的管辖范围内")
            return None
        dwelling_key = values.pop("_dwelling_key", None)
        values["_dwelling"] = dwelling_key
        values["dwelling_id"] = self.dwellings.get(dwelling_key) if dwelling_key else None
        return values

    def changes(self, instance: Any, values: dict[str, Any], fields: list[str]) -> list[str]:
        changed = super().changes(instance, values, fields)
        if "dwelling_id" in fields and values["_dwelling"] and values["dwelling_id"] is None:
            changed.append("dwelling_id")  # a dwelling this sheet creates
        return sorted(set(changed))

    def write(self, creates: list[dict[str, Any]], updates: list[Update], progress: ProgressFn) -> None:
        wanted = {v["_dwelling"] for v in (*creates, *(u[1] for u in updates)) if v["_dwelling"]}
        missing = sorted(wanted - set(self.dwellings))
        made = Dwelling.objects.bulk_create(
            [Dwelling(building_id=b, unit=u, number=n) for b, u, n in missing], batch_size=BATCH
        )
        for key, dwelling in zip(missing, made, strict=True):
            self.dwellings[key] = dwelling.pk
        if missing:
            self.ctx.report.also_created["dwellings"] = len(missing)
        for values in (*creates, *(u[1] for u in updates)):
            if values["_dwelling"]:
                values["dwelling_id"] = self.dwellings[values["_dwelling"]]
        super().write(creates, updates, progress)
        # People live in their household's grid (services.place_in_grids keeps the same rule).
        moved: dict[int | None, list[int]] = defaultdict(list)
        for instance, values, changed in updates:
            if "grid_id" in changed:
                moved[values["grid_id"]].append(instance.pk)
        for grid_id, pks in moved.items():
            for part in chunks(pks):
                Person.objects.filter(household_id__in=part).update(grid_id=grid_id)


def check_household(
    raw: dict[str, str], grids: dict[str, int], buildings: dict[str, tuple[int, int | None]]
) -> Checked:
    """A household row: its number, address, grid (by code, else its building's) and dwelling."""
    out = Checked()
    number = raw.get("number", "")
    if not number:
        out.errors.append(("number", "户号不能为空"))
    elif len(number) > 40:
        out.errors.append(("number", "户号过长 (最多40字)"))
    out.values["number"] = number
    address = raw.get("address", "")
    if len(address) > 200:
        out.errors.append(("address", "地址过长 (最多200字)"))
    out.values["address"] = address
    grid_id = None
    if code := raw.get("grid", ""):
        grid_id = grids.get(code)
        if grid_id is None:
            out.errors.append(("grid", f"网格编码 {code} 不存在"))
    building_code, unit, room = raw.get("building", ""), raw.get("unit", ""), raw.get("dwelling", "")
    if building_code:
        if building_code not in buildings:
            out.errors.append(("building", f"楼栋编码 {building_code} 未登记"))
        else:
            building_id, building_grid = buildings[building_code]
            grid_id = grid_id if raw.get("grid") else building_grid
            if room:
                if len(room) > 20 or len(unit) > 10:
                    out.errors.append(("dwelling", "单元最多10字, 室号最多20字"))
                out.values["_dwelling_key"] = (building_id, unit, room)
    elif room or unit:
        out.errors.append(("building", "填写单元/室号时须填写楼栋编码"))
    out.values["grid_id"] = grid_id
    return out


# --- buildings ---------------------------------------------------------------------------------


class BuildingsImporter(LocatedImporter):
    kind = "buildings"
    model = Building
    lookups = (("code",),)
    key_columns: ClassVar = {("code",): "code"}
    writes: ClassVar = {
        "name": ("name",),
        "address": ("address",),
        "use": ("use",),
        "floors": ("floors",),
        "lon": ("lon", "lat", "grid_id"),
        "lat": ("lon", "lat", "grid_id"),
        "source": ("source",),
        "source_id": ("source_id",),
    }

    def check(self, number: int, raw: dict[str, Any]) -> dict[str, Any] | None:
        out = check_building(raw)
        self.point(number, raw, out)
        return self.accept(number, raw, out)


def check_building(raw: dict[str, Any]) -> Checked:
    out = Checked()
    for key, label, limit in (("code", "编码", 40), ("name", "名称", 100), ("address", "地址", 200)):
        value = text(raw.get(key))
        if not value:
            out.errors.append((key, f"{label}不能为空"))
        elif len(value) > limit:
            out.errors.append((key, f"{label}过长 (最多{limit}字)"))
        out.values[key] = value
    use = _choice(text(raw.get("use")), Building.Use, Building.Use.RESIDENTIAL)
    if use is None:
        labels = "/".join(str(c.label) for c in Building.Use)
        out.errors.append(("use", f"用途应为 {labels}"))
    out.values["use"] = use
    try:
        floors = number_value(raw.get("floors"), "层数", integer=True)
        if floors is not None and floors > 32767:
            raise CellError("层数超出范围")
        out.values["floors"] = floors
    except CellError as exc:
        out.errors.append(("floors", str(exc)))
    return out


# --- organizations -----------------------------------------------------------------------------


class OrganizationsImporter(LocatedImporter):
    kind = "organizations"
    model = Organization
    lookups = (("credit_code",), ("source", "source_id"))
    key_columns: ClassVar = {("credit_code",): "credit_code", ("source", "source_id"): "source_id"}
    writes: ClassVar = {
        "name": ("name",),
        "kind": ("kind",),
        "credit_code": ("credit_code",),
        "legal_representative": ("legal_representative",),
        "phone": ("phone",),
        "address": ("address",),
        "lon": ("lon", "lat", "grid_id"),
        "lat": ("lon", "lat", "grid_id"),
        "building": ("building_id",),
        "staff_count": ("staff_count",),
        "source": ("source",),
        "source_id": ("source_id",),
    }

    def prepare(self, rows: list[tuple[int, dict[str, Any]]]) -> None:
        codes = sorted({text(raw.get("building")) for _, raw in rows} - {""})
        self.buildings = dict(Building.objects.filter(code__in=codes).values_list("code", "pk"))

    def check(self, number: int, raw: dict[str, Any]) -> dict[str, Any] | None:
        r = {k: text(v) for k, v in raw.items() if k not in ("credit_code", "lon", "lat")}
        try:
            r["credit_code"] = long_number(raw.get("credit_code"), "统一社会信用代码")
        except CellError as exc:
            self.error(number, "credit_code", raw.get("credit_code"), str(exc))
            return None
        out = check_organization({**r, "lon": text(raw.get("lon")), "lat": text(raw.get("lat"))})
        try:
            out.values["staff_count"] = number_value(raw.get("staff_count"), "从业人数", integer=True)
        except CellError as exc:
            out.errors.append(("staff_count", str(exc)))
        building = r.get("building", "")
        out.values["building_id"] = self.buildings.get(building) if building else None
        if building and out.values["building_id"] is None:
            out.errors.append(("building", f"楼栋编码 {building} 未登记"))
        values = self.accept(number, raw, out)
        if values is None:
            return None
        if not values["credit_code"] and not values["source_id"]:
            self.error(
                number, "credit_code", "", "统一社会信用代码和来源编号至少填一项, 以便重新导入时找到同一单位"
            )
            return None
        return values


# --- assets ------------------------------------------------------------------------------------


class AssetsImporter(LocatedImporter):
    kind = "assets"
    model = Asset
    lookups = (("code",),)
    key_columns: ClassVar = {("code",): "code"}
    writes: ClassVar = {
        "name": ("name",),
        "category": ("category_id",),
        "status": ("status",),
        "owner": ("owner_id",),
        "address": ("address",),
        "lon": ("lon", "lat", "grid_id"),
        "lat": ("lon", "lat", "grid_id"),
        "note": ("note",),
        "source": ("source",),
        "source_id": ("source_id",),
    }

    def prepare(self, rows: list[tuple[int, dict[str, Any]]]) -> None:
        self.categories: dict[str, AssetCategory] = _by_code_or_name(AssetCategory.objects.all())
        self.departments: dict[str, Department] = _by_code_or_name(Department.objects.all())

    def check(self, number: int, raw: dict[str, Any]) -> dict[str, Any] | None:
        out = check_asset(raw, self.categories, self.departments)
        self.point(number, raw, out)
        return self.accept(number, raw, out)


def check_asset(raw: dict[str, Any], categories: dict[str, Any], departments: dict[str, Any]) -> Checked:
    out = Checked()
    for key, label, limit in (("code", "编码", 40), ("name", "名称", 100), ("address", "地址", 200)):
        value = text(raw.get(key))
        if not value and key != "address":
            out.errors.append((key, f"{label}不能为空"))
        elif len(value) > limit:
            out.errors.append((key, f"{label}过长 (最多{limit}字)"))
        out.values[key] = value
    category = text(raw.get("category"))
    found = categories.get(category) or categories.get(category.lower())
    if found is None:
        out.errors.append(("category", f"部件类别 “{category}” 不存在" if category else "类别不能为空"))
    out.values["category_id"] = found.pk if found else None
    owner = text(raw.get("owner"))
    department = (departments.get(owner) or departments.get(owner.lower())) if owner else None
    if owner and department is None:
        out.errors.append(("owner", f"部门 “{owner}” 不存在"))
    out.values["owner_id"] = department.pk if department else None
    status = _choice(text(raw.get("status")), Asset.Status, Asset.Status.NORMAL)
    if status is None:
        out.errors.append(("status", f"状态应为 {'/'.join(str(c.label) for c in Asset.Status)}"))
    out.values["status"] = status
    out.values["note"] = text(raw.get("note"))
    return out


IMPORTERS: dict[str, type[Importer]] = {
    "people": PeopleImporter,
    "households": HouseholdsImporter,
    "buildings": BuildingsImporter,
    "organizations": OrganizationsImporter,
    "assets": AssetsImporter,
}
