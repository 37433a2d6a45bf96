"""Export of the registers: the import's headers, masked identifiers unless revealed, audited."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.core.management import call_command
from openpyxl import load_workbook

from shequ.core.models import AuditEntry
from shequ.registry.exports import export_rows
from shequ.registry.imports import COLUMNS, import_file
from shequ.registry.models import Asset, AssetCategory, Building, Household, Organization, Person, Tag
from shequ.registry.selectors import people_for
from tests.registry.test_import import HEADERS, csv_bytes, person


@pytest.fixture
def people(system_user: Any, two_communities: dict[str, Any]) -> list[list[Any]]:
    Tag.objects.create(code="exp_secret", name="测试敏感标签", is_sensitive=True)
    Tag.objects.create(code="exp_plain", name="测试普通标签")
    Household.objects.create(number="H00000", grid=two_communities["grid11"])
    rows = [person(i) for i in range(10)]
    rows[0][HEADERS.index("标签")] = "测试敏感标签、测试普通标签"
    rows[1][HEADERS.index("备注")] = '=HYPERLINK("http://x")'  # must stay text
    rows[2][HEADERS.index("联系电话")] = "0931-8123456"
    rows[3][HEADERS.index("人口类型")] = "流动人口"
    report = import_file("people", csv_bytes(HEADERS, rows), "p.csv", actor=system_user)
    assert report.ok, report.errors
    assert Person.objects.get(name=rows[1][0]).note.startswith("=HYPERLINK")
    return rows


def read_xlsx(data: bytes) -> list[list[Any]]:
    sheet = load_workbook(io.BytesIO(data)).active
    return [list(r) for r in sheet.iter_rows(values_only=True)]


def read_csv(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")  # so Excel reads it as UTF-8
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_round_trip_changes_nothing(system_user: Any, people: list[list[Any]], fmt: str) -> None:
    data = export_rows("people", Person.objects.all(), fmt, actor=system_user, reveal=True)
    report = import_file("people", data, f"export.{fmt}", actor=system_user)
    assert report.ok, report.errors
    assert (report.created, report.updated, report.unchanged) == (0, 0, 10)


def test_export_masks_unless_revealed(system_user: Any, people: list[list[Any]]) -> None:
    rows = read_xlsx(export_rows("people", Person.objects.all(), "xlsx", actor=system_user))
    assert rows[0] == [c.header for c in COLUMNS["people"]]
    by_name = {r[0]: r for r in rows[1:]}
    first = by_name[people[0][0]]
    assert first[3] == people[0][3][:3] + "*" * 11 + people[0][3][-4:]
    assert "*" in first[4] and people[0][4] not in first[4]
    assert first[9] == "测试普通标签、测试敏感标签"
    assert by_name[people[1][0]][10].startswith("=HYPERLINK")  # kept as text, not a formula
    entry = AuditEntry.objects.filter(action="registry.export").latest("pk")
    assert entry.detail == {"kind": "people", "count": 10, "revealed": False, "format": "xlsx"}

    revealed = read_csv(export_rows("people", Person.objects.all(), "csv", actor=system_user, reveal=True))
    cells = {r[0]: r for r in revealed[1:]}
    assert cells[people[0][0]][3].strip() == people[0][3]
    assert cells[people[2][0]][4].strip() == "09318123456"
    assert cells[people[1][0]][10].startswith("'=")  # formula guard in CSV
    assert AuditEntry.objects.filter(action="registry.export").latest("pk").detail["revealed"] is True
    # A masked export does not go back in: the masked numbers are refused by name.
    masked = export_rows("people", Person.objects.all(), "csv", actor=system_user)
    refused = import_file("people", masked, "masked.csv", actor=system_user)
    assert not refused.ok and "脱敏" in refused.errors[0]["message"]


def test_export_is_scoped_by_caller_and_hides_sensitive_tags(
    make_user: Any, people: list[list[Any]], two_communities: dict[str, Any]
) -> None:
    from shequ.accounts.models import Role

    leader = make_user(Role.LEADER, grids=(two_communities["street"],))
    data = export_rows("people", people_for(leader), "csv", actor=leader)
    rows = {r[0]: r for r in read_csv(data)[1:]}
    assert rows[people[0][0]][9] == "测试普通标签"  # a leader sees everyone, but no sensitive tag
    worker = make_user(Role.GRID_WORKER, grids=(two_communities["grid11"],))
    scoped = read_csv(export_rows("people", people_for(worker), "csv", actor=worker))
    assert [r[0] for r in scoped[1:]] == [people[i][0] for i in range(3)]  # household H00000 only


def test_other_kinds_round_trip(system_user: Any, two_communities: dict[str, Any]) -> None:
    from shequ.accounts.models import Department

    Department.objects.create(code="D9", name="测试城管")
    AssetCategory.objects.create(code="T02", name="测试路灯")
    sheets: dict[str, tuple[list[str], list[list[Any]]]] = {
        "buildings": (
            ["编码", "名称", "地址", "层数", "经度", "纬度"],
            [["B1", "1号楼", "路1", 6, 103.605, 36.505]],
        ),
        "households": (["户号", "楼栋编码", "单元", "室号"], [["F1", "B1", "2", "201"]]),
        "organizations": (["名称", "来源编号", "楼栋编码"], [["居委会", "org-1", "B1"]]),
        "assets": (
            ["编码", "名称", "类别", "权属部门", "备注"],
            [["A1", "路灯1", "测试路灯", "测试城管", "-坏"]],
        ),
    }
    models: dict[str, Any] = {
        "buildings": Building,
        "households": Household,
        "organizations": Organization,
        "assets": Asset,
    }
    for kind, (headers, rows) in sheets.items():
        assert import_file(kind, csv_bytes(headers, rows), "x.csv", actor=system_user).created == 1
        for fmt in ("xlsx", "csv"):
            data = export_rows(kind, models[kind]._default_manager.all(), fmt, actor=system_user)
            report = import_file(kind, data, f"x.{fmt}", actor=system_user)
            assert report.ok, (kind, fmt, report.errors)
            assert (report.created, report.updated, report.unchanged) == (0, 0, 1), (kind, fmt)


def test_export_refuses_wrong_arguments(system_user: Any) -> None:
    with pytest.raises(ValueError, match="format"):
        export_rows("people", Person.objects.all(), "pdf", actor=system_user)
    with pytest.raises(ValueError, match="queryset"):
        export_rows("people", Building.objects.all(), "csv", actor=system_user)


def test_export_command(tmp_path: Any, people: list[list[Any]], capsys: Any) -> None:
    out = tmp_path / "people.xlsx"
    call_command("export_registry", "people", "--out", str(out))
    assert "已导出 10 行" in capsys.readouterr().out
    assert "*" in read_xlsx(out.read_bytes())[1][3]
    call_command("export_registry", "people", "--out", str(tmp_path / "p.csv"), "--reveal")
    entry = AuditEntry.objects.filter(action="registry.export").latest("pk")
    assert entry.detail["revealed"] is True and entry.actor_name.startswith("cli:")
