"""Export of the registers to Excel (.xlsx) and CSV, with the import's headers, so that a sheet
exported with `reveal=True` and imported again changes nothing.

ID and phone numbers are masked unless `reveal=True`; the caller decides whether the actor's role
may reveal, and this module audits every export (kind, count, revealed). The queryset passed in is
already scoped to the actor (selectors.people_for(user), ...).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Iterator
from typing import Any

from django.db import models
from django.db.models import Prefetch
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

from shequ.core.audit import audit
from shequ.registry import identifiers
from shequ.registry.imports.columns import COLUMNS, KIND_NAMES, KINDS
from shequ.registry.models import Asset, Building, Household, Organization, Person
from shequ.registry.selectors import tags_for

FORMATS = ("xlsx", "csv")
FORMULA_START = ("=", "+", "-", "@")  # a cell starting so would run as a formula in Excel
Cells = list[Any]


def _national_phone(value: str) -> str:
    try:
        return identifiers.parse_phone(value).national
    except identifiers.IdentifierError:
        return value


def _label(choices: type[models.TextChoices], value: str) -> str:
    try:
        return str(choices(value).label)
    except ValueError:
        return value


def _people(queryset: models.QuerySet[Any], actor: Any, reveal: bool) -> Iterator[Cells]:
    tags = tags_for(actor) if getattr(actor, "is_authenticated", False) else None
    qs = queryset.select_related("household").prefetch_related(
        Prefetch("tags", queryset=tags) if tags is not None else "tags"
    )
    for p in qs.iterator(chunk_size=2000):
        id_number = p.id_number if reveal else identifiers.mask_resident_id(p.id_number)
        phone = _national_phone(p.phone) if p.phone else ""
        yield [
            p.name,
            _label(Person.Gender, p.gender),
            p.birth_date,
            id_number,
            phone if reveal else identifiers.mask_phone(phone),
            p.ethnicity,
            _label(Person.Residence, p.residence),
            p.household.number if p.household else "",
            p.relation,
            "、".join(t.name for t in p.tags.all()),
            p.note,
            p.source,
            p.source_id,
        ]


def _households(queryset: models.QuerySet[Any], actor: Any, reveal: bool) -> Iterator[Cells]:
    for h in queryset.select_related("grid", "dwelling__building").iterator(chunk_size=2000):
        d = h.dwelling
        yield [
            h.number,
            h.address,
            h.grid.code if h.grid else "",
            d.building.code if d else "",
            d.unit if d else "",
            d.number if d else "",
            h.source,
            h.source_id,
        ]


def _buildings(queryset: models.QuerySet[Any], actor: Any, reveal: bool) -> Iterator[Cells]:
    for b in queryset.iterator(chunk_size=2000):
        use = _label(Building.Use, b.use)
        yield [b.code, b.name, b.address, use, b.floors, b.lon, b.lat, b.source, b.source_id]


def _organizations(queryset: models.QuerySet[Any], actor: Any, reveal: bool) -> Iterator[Cells]:
    for o in queryset.select_related("building").iterator(chunk_size=2000):
        yield [
            o.name,
            _label(Organization.Kind, o.kind),
            o.credit_code or "",
            o.legal_representative,
            o.phone,
            o.address,
            o.lon,
            o.lat,
            o.building.code if o.building else "",
            o.staff_count,
            o.source,
            o.source_id,
        ]


def _assets(queryset: models.QuerySet[Any], actor: Any, reveal: bool) -> Iterator[Cells]:
    for a in queryset.select_related("category", "owner").iterator(chunk_size=2000):
        yield [
            a.code,
            a.name,
            a.category.code,
            _label(Asset.Status, a.status),
            a.owner.code if a.owner else "",
            a.address,
            a.lon,
            a.lat,
            a.note,
            a.source,
            a.source_id,
        ]


ROWS: dict[str, Callable[[models.QuerySet[Any], Any, bool], Iterator[Cells]]] = {
    "people": _people,
    "households": _households,
    "buildings": _buildings,
    "organizations": _organizations,
    "assets": _assets,
}
MODELS: dict[str, type[models.Model]] = {
    "people": Person,
    "households": Household,
    "buildings": Building,
    "organizations": Organization,
    "assets": Asset,
}


def export_rows(
    kind: str, queryset: models.QuerySet[Any], fmt: str, *, actor: Any, reveal: bool = False
) -> bytes:
    """The rows of `queryset` as an .xlsx workbook or a CSV file (UTF-8 with BOM, for Excel)."""
    if kind not in KINDS:
        raise ValueError(f"unknown register kind {kind!r}; one of {', '.join(KINDS)}")
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; one of {', '.join(FORMATS)}")
    if queryset.model is not MODELS[kind]:
        raise ValueError(f"a {kind} export needs a queryset of {MODELS[kind].__name__}")
    headers = [c.header for c in COLUMNS[kind]]
    rows = ROWS[kind](queryset, actor, reveal)
    data, count = (_xlsx if fmt == "xlsx" else _csv)(
        KIND_NAMES[kind], headers, rows, kind == "people" and reveal
    )
    audit("registry.export", actor=actor, kind=kind, count=count, revealed=reveal, format=fmt)
    return data


def _xlsx(title: str, headers: list[str], rows: Iterator[Cells], _revealed: bool) -> tuple[bytes, int]:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title)
    sheet.append(headers)
    count = 0
    for row in rows:
        cells: list[Any] = []
        for value in row:
            if isinstance(value, str) and value.startswith("="):
                cell = WriteOnlyCell(sheet, value=value)
                cell.data_type = "s"  # text, never a formula
                cells.append(cell)
            elif isinstance(value, dt.date):
                cell = WriteOnlyCell(sheet, value=value)
                cell.number_format = "yyyy-mm-dd"
                cells.append(cell)
            else:
                cells.append(value)
        sheet.append(cells)
        count += 1
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue(), count


def _csv(title: str, headers: list[str], rows: Iterator[Cells], revealed: bool) -> tuple[bytes, int]:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(headers)
    count = 0
    for row in rows:
        cells = []
        for i, value in enumerate(row):
            if value is None:
                cells.append("")
            elif isinstance(value, dt.date):
                cells.append(value.isoformat())
            elif isinstance(value, str):
                if revealed and i in (3, 4) and value:
                    # Excel would read an 18-digit ID as a number and lose its last digits, and drop
                    # a landline's leading 0: a tab keeps it text; the importer strips it.
                    value = "\t" + value
                elif value.startswith(FORMULA_START):
                    value = "'" + value  # the importer removes this guard again
                cells.append(value)
            else:
                cells.append(value)
        writer.writerow(cells)
        count += 1
    return out.getvalue().encode("utf-8-sig"), count
