"""Benchmark the people import against the database's own insert rate.

Generates a sheet of valid people (80,000 rows by default: the model community), then, in a
throwaway database, times: reading the sheet, checking it (validation alone), the full import
(read + check + write, all or nothing), importing the same sheet again (all unchanged), and a raw
`bulk_create` of the same Person rows (encryption included: the floor any import pays).

SQLite by default (a temporary file); with SHEQU_DATABASE_URL=postgres://... a temporary database
is created on that server and dropped at the end. Run from the repo root:

    .venv/bin/python bench/import.py [--rows 80000]
    SHEQU_DATABASE_URL=postgres://postgres@127.0.0.1:5432/x .venv/bin/python bench/import.py
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from _common import throwaway_database

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
REGIONS = ("620102", "620103", "620104", "620105", "620111", "620121", "620171")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰"


def make_rows(n: int) -> list[list[Any]]:
    from shequ.registry.identifiers import make_resident_id

    rows = []
    base = dt.date(1940, 1, 1)
    for i in range(n):
        birth = base + dt.timedelta(days=i % 25000)
        seq = (i // 25000) * 2 + (i % 2)  # odd = male; (birth, seq) is unique for i < 250,000
        rows.append(
            [
                SURNAMES[i % 20] + GIVEN[i % len(GIVEN)] + GIVEN[(i // len(GIVEN)) % len(GIVEN)],
                "男" if seq % 2 else "女",
                birth,
                make_resident_id(REGIONS[i % len(REGIONS)], birth, seq),
                f"139{i:08d}",
                "汉族" if i % 10 else "回族",
                "户籍人口" if i % 5 else "流动人口",
                f"H{i // 3:06d}",
                "户主" if i % 3 == 0 else "子女",
                "基准独居老人" if i % 50 == 0 else "",
                "",
            ]
        )
    return rows


def to_xlsx(rows: list[list[Any]]) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("人员")
    sheet.append(HEADERS)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def to_csv(rows: list[list[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADERS)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8-sig")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=80_000)
    args = parser.parse_args()

    os.environ["SHEQU_VAR_DIR"] = tempfile.mkdtemp(prefix="shequ-bench-")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shequ.settings")
    os.environ["SHEQU_LOG_LEVEL"] = "WARNING"
    os.environ.setdefault("SHEQU_DEBUG", "0")  # as in production: no SQL kept per query
    label, cleanup = throwaway_database()
    import django

    django.setup()
    try:
        run(label, args.rows)
    finally:
        cleanup()


def run(label: str, n: int) -> None:
    from django.core.management import call_command
    from django.db import connection, transaction

    from shequ.registry.imports import import_file
    from shequ.registry.imports.engine import Context, ImportReport, Problems, plan_import
    from shequ.registry.imports.kinds import PeopleImporter
    from shequ.registry.imports.reading import read_table
    from shequ.registry.models import Household, Person, Tag

    call_command("migrate", verbosity=0)
    Tag.objects.get_or_create(code="bench_alone", defaults={"name": "基准独居老人"})

    t = time.perf_counter()
    rows = make_rows(n)
    xlsx_data, csv_data = to_xlsx(rows), to_csv(rows)
    print(
        f"{label}: {n:,} people; sheet made in {time.perf_counter() - t:.1f} s "
        f"(xlsx {len(xlsx_data) / 1e6:.1f} MB, csv {len(csv_data) / 1e6:.1f} MB)\n"
    )

    def noop(*a: Any, **k: Any) -> None:
        return None

    def wipe() -> None:
        # _raw_delete: one DELETE without Django's cascade collection, which is not what we measure.
        Person.tags.through.objects.all()._raw_delete(connection.alias)
        Person.objects.all()._raw_delete(connection.alias)
        Household.objects.all()._raw_delete(connection.alias)

    results: list[tuple[str, float]] = []

    t = time.perf_counter()
    table = read_table("people", xlsx_data, "bench.xlsx")
    results.append(("read .xlsx (calamine)", time.perf_counter() - t))
    t = time.perf_counter()
    read_table("people", csv_data, "bench.csv")
    results.append(("read .csv", time.perf_counter() - t))

    report = ImportReport(kind="people", filename="bench.xlsx", mode="upsert")
    ctx = Context(
        actor="bench",
        mode="upsert",
        table=table,
        problems=Problems(report, table, "people"),
        report=report,
        scope=None,
    )
    t = time.perf_counter()
    plan = plan_import(PeopleImporter(ctx), noop)
    results.append(("validate (check every row, keys)", time.perf_counter() - t))
    assert report.error_count == 0, report.errors[:3]

    # The database's own rate: the same Person rows, hashes and encryption included.
    people = [v["_person"] for v in plan.creates]  # person_row() output, as the import writes it
    t = time.perf_counter()
    with transaction.atomic():
        Person.objects.bulk_create(people, batch_size=1000)
    raw = time.perf_counter() - t
    results.append(("raw bulk_create of Person rows", raw))
    wipe()

    for name, data in (("xlsx", xlsx_data), ("csv", csv_data)):
        t = time.perf_counter()
        report = import_file("people", data, f"bench.{name}", actor="bench")
        results.append((f"full import .{name} (read+check+write)", time.perf_counter() - t))
        assert report.ok and report.created == n, (report.message, report.errors[:3])
        if name == "xlsx":
            t = time.perf_counter()
            again = import_file("people", data, "bench.xlsx", actor="bench")
            results.append(("import same .xlsx again (all unchanged)", time.perf_counter() - t))
            assert again.unchanged == n, again.message
        wipe()

    print(f"{'step':<42} {'seconds':>8} {'rows/s':>10} {'vs raw insert':>14}")
    for step, seconds in results:
        print(f"{step:<42} {seconds:>8.2f} {n / seconds:>10,.0f} {raw / seconds:>13.2f}x")


if __name__ == "__main__":
    main()
