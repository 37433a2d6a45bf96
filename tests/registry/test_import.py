"""Import of the registers from .xlsx and .csv: all or nothing, per-row reports, idempotent."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.db import connection
from openpyxl import Workbook

from shequ.core import jobs
from shequ.core.models import AuditEntry, Job
from shequ.registry.identifiers import make_resident_id
from shequ.registry.imports import import_file
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
from shequ.registry.services import find_person_by_id_number

HEADERS = [
    "姓名",
    "性别",
    "出生日期",
    "身份证号",
    "联系电话",
    "民族",
    "人口类型",
    "户号",
    "与户主关系",
    "标签",
    "备注",
]


def xlsx(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, title_rows: int = 0) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    for _ in range(title_rows):
        sheet.append(["XX社区人口信息登记表"])
    sheet.append(list(headers))
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def csv_bytes(headers: Sequence[str], rows: Sequence[Sequence[Any]], encoding: str = "utf-8-sig") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(headers)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def person(i: int, **overrides: Any) -> list[Any]:
    birth = dt.date(1950, 1, 1) + dt.timedelta(days=97 * i % 25000)
    row = {
        "姓名": f"张{'伟芳娜敏静丽强磊军洋'[i % 10]}{i}",
        "性别": "男" if i % 2 else "女",
        "出生日期": birth,
        "身份证号": make_resident_id("620102", birth, i % 1000),
        "联系电话": f"139{i:08d}",
        "民族": "汉族" if i % 3 else "回族",
        "人口类型": "户籍人口",
        "户号": f"H{i // 3:05d}",
        "与户主关系": "户主" if i % 3 == 0 else "子女",
        "标签": "",
        "备注": "",
    }
    row.update(overrides)
    return [row[h] for h in HEADERS]


@pytest.fixture
def tags(db: Any) -> dict[str, Tag]:
    return {
        "alone": Tag.objects.create(code="imp_alone", name="测试独居老人"),
        "disabled": Tag.objects.create(code="imp_disabled", name="测试残疾人"),
    }


def audit_since(last: int) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(pk__gt=last).order_by("pk"))


def last_audit() -> int:
    return AuditEntry.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def counts() -> tuple[int, int, int, int]:
    through = Person.tags.through
    return (
        Person.objects.count(),
        Household.objects.count(),
        through.objects.count(),
        Dwelling.objects.count(),
    )


def test_xlsx_people_import(system_user: Any, tags: dict[str, Tag], two_communities: dict[str, Any]) -> None:
    grid = two_communities["grid11"]
    Household.objects.create(number="H00000", grid=grid)
    rows = [person(i) for i in range(30)]
    rows[0][HEADERS.index("标签")] = "测试独居老人、imp_disabled"
    rows[1][HEADERS.index("联系电话")] = 13900000001  # a numeric cell: exact, accepted
    before_audit = last_audit()

    report = import_file("people", xlsx(HEADERS, rows, title_rows=2), "人口.xlsx", actor=system_user)

    assert report.ok, report.errors
    assert (report.rows, report.created, report.updated, report.unchanged) == (30, 30, 0, 0)
    assert report.also_created == {"households": 9}
    assert Person.objects.count() == 30
    first = find_person_by_id_number(rows[0][3])
    assert first is not None and first.name == rows[0][0]
    assert set(first.tags.values_list("code", flat=True)) == {"imp_alone", "imp_disabled"}
    assert (
        first.household is not None and first.household.number == "H00000" and first.grid == grid
    )  # grid comes from the household
    assert first.phone == "+8613900000000"
    assert find_person_by_id_number(rows[1][3]).phone == "+8613900000001"  # type: ignore[union-attr]
    with connection.cursor() as cursor:
        cursor.execute("SELECT id_number, phone FROM registry_person WHERE id = %s", [first.pk])
        raw_id, raw_phone = cursor.fetchone()
    assert raw_id.startswith("v1.") and rows[0][3] not in raw_id
    assert "13900000000" not in raw_phone
    # One audit entry for the whole import, not one per row.
    entries = audit_since(before_audit)
    assert [e.action for e in entries] == ["registry.import"]
    assert entries[0].detail["created"] == 30 and entries[0].detail["filename"] == "人口.xlsx"


def test_csv_utf8_and_gbk(system_user: Any) -> None:
    rows = [person(i) for i in range(5)]
    for r in rows:
        r[2] = r[2].strftime("%Y/%m/%d")  # how Chinese Excel writes dates to CSV
    report = import_file("people", csv_bytes(HEADERS, rows[:2], "gb18030"), "gbk.csv", actor=system_user)
    assert report.ok, report.errors
    assert report.created == 2
    assert Person.objects.filter(name=rows[0][0], ethnicity=rows[0][5]).exists()  # decoded right
    report = import_file("people", csv_bytes(HEADERS, rows[2:], "utf-8"), "plain.csv", actor=system_user)
    assert report.ok and report.created == 3
    assert Person.objects.count() == 5


def test_english_headers_accepted(system_user: Any) -> None:
    birth = dt.date(1988, 8, 8)
    data = csv_bytes(["name", "id_number", "phone"], [["李雷", make_resident_id("620102", birth, 11), ""]])
    report = import_file("people", data, "en.csv", actor=system_user)
    assert report.ok, report.errors
    p = Person.objects.get()
    assert (p.gender, p.birth_date) == ("male", birth)  # derived from the ID number


def test_bad_rows_reported_and_nothing_written(system_user: Any, tags: dict[str, Tag]) -> None:
    good = person(1)
    bad_check = person(2)
    bad_check[3] = bad_check[3][:17] + ("0" if bad_check[3][17] != "0" else "1")
    bad_phone = person(3, 联系电话="1234567")
    bad_date = person(4, 身份证号="", 出生日期="1990-02-30")
    bad_gender = person(5, 性别="女")  # 5 is odd: the ID says male
    duplicate = [*good]
    duplicate[0] = "另一人"
    unknown_tag = person(7, 标签="测试独居老人、不存在的标签")
    unknown_ethnicity = person(8, 民族="火星族")
    numeric_id = person(9)
    numeric_id[3] = float(numeric_id[3])
    rows = [
        good,
        bad_check,
        bad_phone,
        bad_date,
        bad_gender,
        duplicate,
        unknown_tag,
        unknown_ethnicity,
        numeric_id,
    ]
    before, audit_before = counts(), last_audit()

    report = import_file("people", xlsx(HEADERS, rows), "bad.xlsx", actor=system_user)

    assert not report.ok
    assert (report.created, report.updated) == (0, 0)
    assert counts() == before  # nothing written
    assert [e.action for e in audit_since(audit_before)] == ["registry.import.rejected"]
    found = {(e["row"], e["column"]): e for e in report.errors}
    assert set(found) == {
        (3, "身份证号"),
        (4, "联系电话"),
        (5, "出生日期"),
        (6, "性别"),
        (7, "身份证号"),
        (8, "标签"),
        (9, "民族"),
        (10, "身份证号"),
    }, report.errors
    assert "check character" in found[3, "身份证号"]["message"]
    assert found[3, "身份证号"]["value"].startswith("620") and "*" in found[3, "身份证号"]["value"]  # masked
    assert "电话号码无效" in found[4, "联系电话"]["message"]
    assert "1990-02-30 不是有效日期" in found[5, "出生日期"]["message"]
    assert "性别与身份证号不符" in found[6, "性别"]["message"]
    assert found[7, "身份证号"]["message"] == "与第 2 行重复"
    assert "不存在的标签" in found[8, "标签"]["message"]
    assert "火星族" in found[9, "民族"]["message"]
    assert "文本" in found[10, "身份证号"]["message"]
    assert report.error_count == 8


def test_error_list_is_capped(system_user: Any) -> None:
    rows = [person(i, 联系电话="12") for i in range(1200)]
    report = import_file("people", csv_bytes(HEADERS, rows), "many.csv", actor=system_user)
    assert report.error_count == 1200 and len(report.errors) == 1000
    assert Person.objects.count() == 0


@pytest.mark.parametrize(
    ("data", "filename", "message"),
    [
        (b"", "x.xlsx", "文件是空的"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "photo.xlsx", "不是 Excel"),
        (b"\xd0\xcf\x11\xe0" + b"\0" * 100, "old.xls", ".xls"),
        (b"name,phone\n", "x.xlsx", "内容不是 Excel"),
        (b"PK\x03\x04garbage", "x.xlsx", "压缩包已损坏"),
        ("姓名,电话\n".encode(), "x.csv", "只有表头"),
        ("编号,金额\n1,2\n".encode(), "x.csv", "找不到表头"),
        ("性别,身份证号\n男,1\n".encode(), "x.csv", "缺少必填列: 姓名"),
        ("姓名,工资\n张三,1\n".encode(), "x.csv", "无法识别的列: B列 “工资”"),
        ("姓名,name\n张三,张三\n".encode(), "x.csv", "出现了两次"),
    ],
)
def test_file_rejected(system_user: Any, data: bytes, filename: str, message: str) -> None:
    report = import_file("people", data, filename, actor=system_user)
    assert not report.ok
    assert len(report.errors) == 1 and report.errors[0]["row"] is None
    assert message in report.errors[0]["message"], report.errors
    assert Person.objects.count() == 0


def test_file_too_big(system_user: Any, settings: Any) -> None:
    settings.IMPORT_MAX_BYTES = 100
    report = import_file(
        "people", csv_bytes(HEADERS, [person(i) for i in range(5)]), "x.csv", actor=system_user
    )
    assert "文件过大" in report.message


def test_zip_that_is_not_a_workbook(system_user: Any) -> None:
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("word/document.xml", "<w/>")
    report = import_file("people", out.getvalue(), "a.xlsx", actor=system_user)
    assert "不是 Excel 工作簿" in report.message


@pytest.mark.parametrize("far_cell", ["XFD1048576", "Z1000000"])
def test_a_stray_cell_far_away_is_refused_before_the_sheet_is_read(system_user: Any, far_cell: str) -> None:
    # Regression: a 2 KB workbook with a blank at XFD1048576 made the reader ask for 512 GB and abort the
    # worker process; one at Z1000000 (a million empty rows) cost a gigabyte.
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(HEADERS)
    sheet.append(person(1))
    sheet[far_cell] = " "
    out = io.BytesIO()
    workbook.save(out)
    report = import_file("people", out.getvalue(), "x.xlsx", actor=system_user)
    assert "工作表的范围过大" in report.message, report.errors
    assert Person.objects.count() == 0


def test_formatting_far_below_the_data_is_no_problem(system_user: Any) -> None:
    from openpyxl.styles import Font

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(HEADERS)
    sheet.append(person(1))
    sheet["Z1000000"].font = Font(bold=True)  # a styled, empty cell: the reader skips it
    out = io.BytesIO()
    workbook.save(out)
    report = import_file("people", out.getvalue(), "x.xlsx", actor=system_user)
    assert report.ok, report.errors
    assert Person.objects.count() == 1


def test_reimport_same_file_changes_nothing(system_user: Any, tags: dict[str, Tag]) -> None:
    rows = [person(i, 标签="测试残疾人" if i % 4 == 0 else "") for i in range(20)]
    data = xlsx(HEADERS, rows)
    assert import_file("people", data, "a.xlsx", actor=system_user).created == 20
    state = counts()
    again = import_file("people", data, "a.xlsx", actor=system_user)
    assert again.ok
    assert (again.created, again.updated, again.unchanged) == (0, 0, 20)
    assert again.also_created == {}
    assert counts() == state


def test_upsert_updates_and_create_only_refuses(system_user: Any, tags: dict[str, Tag]) -> None:
    rows = [person(i) for i in range(4)]
    import_file("people", xlsx(HEADERS, rows), "a.xlsx", actor=system_user)
    rows[0][HEADERS.index("联系电话")] = "0931-8123456"
    rows[1][HEADERS.index("标签")] = "测试独居老人"
    rows[2][HEADERS.index("户号")] = "NEW-1"
    rows.append(person(50))

    refused = import_file("people", xlsx(HEADERS, rows), "b.xlsx", actor=system_user, mode="create_only")
    assert {e["row"] for e in refused.errors} == {2, 3, 4, 5}
    assert Person.objects.count() == 4

    report = import_file("people", xlsx(HEADERS, rows), "b.xlsx", actor=system_user)
    assert report.ok, report.errors
    assert (report.created, report.updated, report.unchanged) == (1, 3, 1)
    assert find_person_by_id_number(rows[0][3]).phone == "+869318123456"  # type: ignore[union-attr]
    assert list(find_person_by_id_number(rows[1][3]).tags.all()) == [tags["alone"]]  # type: ignore[union-attr]
    assert find_person_by_id_number(rows[2][3]).household.number == "NEW-1"  # type: ignore[union-attr]

    # A sheet without a 标签 column leaves the tags alone.
    slim = [[r[0], r[3]] for r in rows]
    again = import_file("people", xlsx(["姓名", "身份证号"], slim), "c.xlsx", actor=system_user)
    assert (again.updated, again.unchanged) == (0, 5)
    assert find_person_by_id_number(rows[1][3]).tags.count() == 1  # type: ignore[union-attr]


def test_source_id_makes_rows_without_id_number_idempotent(system_user: Any) -> None:
    headers = ["姓名", "性别", "来源编号"]
    data = csv_bytes(headers, [["王小二", "男", "old-7"], ["王小三", "女", "old-8"]])
    assert import_file("people", data, "a.csv", actor=system_user).created == 2
    again = import_file("people", data, "a.csv", actor=system_user)
    assert (again.created, again.unchanged) == (0, 2)
    missing = import_file("people", csv_bytes(["姓名", "性别"], [["王五", "男"]]), "b.csv", actor=system_user)
    assert "至少填一项" in missing.errors[0]["message"]

    # Row 2 gives old-7 an ID number; row 3 finds old-7 again by that number: one record, two rows.
    id_number = make_resident_id("620102", dt.date(1990, 1, 1), 11)
    clash = csv_bytes(
        ["姓名", "身份证号", "来源编号"], [["王小二", id_number, "old-7"], ["王小二", id_number, ""]]
    )
    report = import_file("people", clash, "c.csv", actor=system_user)
    assert [(e["row"], e["message"]) for e in report.errors] == [(3, "与第 2 行重复")]
    assert Person.objects.get(source_id="old-7").id_number == ""
    step = import_file("people", clash.rsplit(b"\r\n", 2)[0] + b"\r\n", "c.csv", actor=system_user)
    assert step.updated == 1
    twice = csv_bytes(
        ["姓名", "性别", "身份证号", "来源编号"],
        [["王小二", "男", "", "old-7"], ["王小二", "男", id_number, "new-9"]],
    )
    report = import_file("people", twice, "d.csv", actor=system_user)
    assert [(e["row"], e["message"]) for e in report.errors] == [(3, "与第 2 行指向同一已登记记录")]


def test_job_with_invalid_params_fails_cleanly(
    system_user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        job = jobs.start_job(
            "registry.import",
            actor=system_user,
            params={"kind": "cats"},
            input_file=ContentFile(b"x", name="x.csv"),
        )
    jobs.run(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED and "无效的导入参数" in job.message


def test_update_outside_scope_refused(
    make_user: Any, system_user: Any, two_communities: dict[str, Any]
) -> None:
    other = Household.objects.create(number="FAR", grid=two_communities["grid21"])
    rows = [person(1, 户号="FAR")]
    import_file("people", xlsx(HEADERS, rows), "a.xlsx", actor=system_user)
    assert find_person_by_id_number(rows[0][3]).grid == other.grid  # type: ignore[union-attr]
    worker = make_user(grids=(two_communities["grid11"],))
    rows[0][HEADERS.index("备注")] = "改一下"
    report = import_file("people", xlsx(HEADERS, rows), "a.xlsx", actor=worker)
    assert [(e["column"], e["message"]) for e in report.errors] == [("户号", "该户不在您管辖的网格内")]
    slim = xlsx(["姓名", "身份证号", "备注"], [[rows[0][0], rows[0][3], "改一下"]])
    report = import_file("people", slim, "a.xlsx", actor=worker)
    assert [e["column"] for e in report.errors] == ["身份证号"]
    assert "不在您管辖的网格内" in report.errors[0]["message"]
    assert find_person_by_id_number(rows[0][3]).note == ""  # type: ignore[union-attr]


def test_job_runs_import_with_progress(system_user: Any, django_capture_on_commit_callbacks: Any) -> None:
    rows = [person(i) for i in range(12)]
    upload = ContentFile(xlsx(HEADERS, rows), name="upload.xlsx")
    with django_capture_on_commit_callbacks(execute=False):
        job = jobs.start_job(
            "registry.import",
            actor=system_user,
            params={"kind": "people", "mode": "upsert", "filename": "人口.xlsx"},
            input_file=upload,
        )
    stored = str(job.input_file.name)
    jobs.run(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.message
    assert job.report["created"] == 12 and job.report["errors"] == []
    assert job.report["job_id"] == job.pk
    assert job.done == job.total == 12
    assert not job.input_file.storage.exists(stored)  # the upload with plain IDs is gone
    assert AuditEntry.objects.get(action="registry.import").detail["job_id"] == job.pk


def test_job_with_bad_rows_fails_with_report(
    system_user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    upload = ContentFile(csv_bytes(HEADERS, [person(1, 民族="火星族")]), name="bad.csv")
    with django_capture_on_commit_callbacks(execute=False):
        job = jobs.start_job(
            "registry.import",
            actor=system_user,
            params={"kind": "people", "filename": "bad.csv"},
            input_file=upload,
        )
    jobs.run(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert job.report["errors"][0]["row"] == 2
    assert Person.objects.count() == 0


def test_import_command(tmp_path: Any, db: Any, capsys: Any) -> None:
    path = tmp_path / "people.csv"
    path.write_bytes(csv_bytes(HEADERS, [person(i) for i in range(3)]))
    call_command("import_registry", "people", str(path))
    assert "新增 3" in capsys.readouterr().out
    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_bytes(HEADERS, [person(1, 联系电话="1")]))
    with pytest.raises(SystemExit) as exit_info:
        call_command("import_registry", "people", str(bad), "--json")
    assert exit_info.value.code == 1
    assert '"row": 2' in capsys.readouterr().out


# --- the other kinds ---------------------------------------------------------------------------


def test_buildings_households_organizations_assets(system_user: Any, two_communities: dict[str, Any]) -> None:
    buildings = csv_bytes(
        ["编码", "名称", "地址", "用途", "层数", "经度", "纬度"],
        [
            ["B1", "1号楼", "纬一路1号", "住宅", "18", "103.605", "36.505"],
            ["B2", "2号楼", "纬一路2号", "商业", "", "", ""],
        ],
    )
    report = import_file("buildings", buildings, "b.csv", actor=system_user)
    assert report.ok and report.created == 2, report.errors
    assert Building.objects.get(code="B1").grid == two_communities["grid11"]  # located from the point
    assert import_file("buildings", buildings, "b.csv", actor=system_user).unchanged == 2

    households = xlsx(
        ["户号", "地址", "网格编码", "楼栋编码", "单元", "室号"],
        [
            ["F1", "1号楼1单元101", "", "B1", "1", "101"],
            ["F2", "", two_communities["grid22"].code, "", "", ""],
        ],
    )
    report = import_file("households", households, "h.xlsx", actor=system_user)
    assert report.ok and report.created == 2 and report.also_created == {"dwellings": 1}, report.errors
    f1 = Household.objects.get(number="F1")
    assert f1.grid == two_communities["grid11"] and f1.dwelling.number == "101"  # type: ignore[union-attr]
    assert import_file("households", households, "h.xlsx", actor=system_user).unchanged == 2

    bad = csv_bytes(["户号", "网格编码", "楼栋编码"], [["F3", "nope", ""], ["F4", "", "B9"]])
    report = import_file("households", bad, "h.csv", actor=system_user)
    assert [(e["row"], e["column"]) for e in report.errors] == [(2, "网格编码"), (3, "楼栋编码")]

    from shequ.registry.identifiers import make_credit_code

    orgs = csv_bytes(
        ["名称", "类型", "统一社会信用代码", "联系电话", "楼栋编码", "从业人数", "经度", "纬度"],
        [
            [
                "新区一中",
                "学校",
                make_credit_code("620171", "12345678", registration_authority="1"),
                "",
                "",
                "",
                "",
                "",
            ],
            ["某公司", "企业", make_credit_code("620171", "87654321"), "0931-8123456", "B2", "25", "", ""],
            ["坏公司", "企业", "91620171MA000000X0", "", "", "", "", ""],
        ],
    )
    report = import_file("organizations", orgs, "o.csv", actor=system_user)
    assert [e["row"] for e in report.errors] == [4] and "信用代码" in report.errors[0]["message"]
    report = import_file("organizations", orgs.rsplit(b"\r\n", 2)[0] + b"\r\n", "o.csv", actor=system_user)
    assert report.ok and report.created == 2, report.errors
    assert Organization.objects.get(name="某公司").staff_count == 25

    AssetCategory.objects.create(code="T01", name="测试井盖")
    assets = csv_bytes(
        ["编码", "名称", "类别", "状态", "经度", "纬度"],
        [["A1", "井盖1", "T01", "损坏", "103.615", "36.505"], ["A2", "井盖2", "测试井盖", "", "", ""]],
    )
    report = import_file("assets", assets, "a.csv", actor=system_user)
    assert report.ok and report.created == 2, report.errors
    a1 = Asset.objects.get(code="A1")
    assert (a1.status, a1.grid) == ("damaged", two_communities["grid12"])
    bad_assets = csv_bytes(["编码", "名称", "类别"], [["A3", "x", "没有的类别"]])
    assert "不存在" in import_file("assets", bad_assets, "a.csv", actor=system_user).errors[0]["message"]
