"""Import of cameras from .xlsx and .csv: all or nothing, errors per row and column, idempotent by
编号, hostile files refused with one clear message, the job path with the API, passwords kept out of
reports."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest
from django.core.files.base import ContentFile
from rest_framework.test import APIClient

from shequ.core import jobs
from shequ.core.models import AuditEntry, Job
from shequ.video.imports import import_file
from shequ.video.models import Camera
from tests.registry.test_import import csv_bytes, xlsx

pytestmark = pytest.mark.django_db

HEADERS = [
    "编号*",
    "名称*",
    "经度*",
    "纬度*",
    "地址",
    "朝向",
    "厂商",
    "协议",
    "主码流地址",
    "用户名",
    "密码",
    "接入分析",
]


def row(i: int, **overrides: Any) -> list[Any]:
    values = {
        "编号*": f"LZXQ-{i:04d}",
        "名称*": f"{i}号路口",
        "经度*": 103.601 + 0.0005 * i,
        "纬度*": 36.505,
        "地址": f"纬一路 {i} 号",
        "朝向": 90,
        "厂商": "海康威视",
        "协议": "RTSP",
        "主码流地址": f"rtsp://10.8.0.{i}:554/Streaming/Channels/101",
        "用户名": "admin",
        "密码": f"Pw-{i}-secret",
        "接入分析": "是",
    }
    values.update(overrides)
    return [values[h] for h in HEADERS]


def test_xlsx_import_then_idempotent_reimport(system_user, two_communities):
    rows = [row(i) for i in range(1, 13)]
    report = import_file(xlsx(HEADERS, rows, title_rows=1), "点位.xlsx", actor=system_user)
    assert report.error_count == 0, report.errors
    assert (report.rows, report.created, report.updated, report.unchanged) == (12, 12, 0, 0)
    cam = Camera.objects.get(code="LZXQ-0003")
    assert cam.vendor == "hikvision" and cam.protocol == "rtsp" and cam.watched and cam.heading == 90
    assert cam.password == "Pw-3-secret" and cam.grid_id == two_communities["grid11"].pk
    again = import_file(xlsx(HEADERS, rows), "点位.xlsx", actor=system_user)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 12)
    rows[2] = row(3, **{"名称*": "三号路口(新)", "接入分析": "否"})
    changed = import_file(xlsx(HEADERS, rows), "点位.xlsx", actor=system_user)
    assert (changed.created, changed.updated, changed.unchanged) == (0, 1, 11)
    cam.refresh_from_db()
    assert cam.name == "三号路口(新)" and not cam.watched
    assert Camera.objects.count() == 12
    assert AuditEntry.objects.filter(action="video.camera_register").count() == 12
    assert AuditEntry.objects.filter(action="video.cameras_import").count() == 3


def test_row_errors_name_row_and_column_and_nothing_is_written(system_user, two_communities):
    rows = [
        row(1),
        row(2, **{"经度*": "东经103度"}),
        row(3, **{"朝向": 400, "厂商": "索尼"}),
        row(4, **{"主码流地址": "rtsp://admin:Pw-4-secret@10.0.0.4/x"}),
        row(5, **{"编号*": "LZXQ-0001"}),
        row(6, **{"接入分析": "也许", "密码": "x" * 300}),
    ]
    report = import_file(csv_bytes(HEADERS, rows), "点位.csv", actor=system_user)
    found = {(e["row"], e["column"]) for e in report.errors}
    assert found == {
        (3, "经度"),
        (4, "朝向"),
        (4, "厂商"),
        (5, "主码流地址"),
        (6, "编号"),
        (7, "接入分析"),
        (7, "密码"),
    }
    assert report.created == 0 and not Camera.objects.exists()
    text = str(report.errors)
    assert "Pw-4-secret" not in text and "rtsp://***@10.0.0.4/x" in text  # credentials in a URL masked
    assert "x" * 300 not in text  # a password never shown
    assert "未导入任何摄像头" in report.message
    assert AuditEntry.objects.filter(action="video.cameras_import_rejected").count() == 1


def test_long_numeric_codes_and_gb18030_csv(system_user, two_communities):
    gb = csv_bytes(
        ["编号", "名称", "经度", "纬度"], [["34020000001320000001", "国标点位", 103.605, 36.505]], "gb18030"
    )
    assert import_file(gb, "国标.csv", actor=system_user).created == 1
    assert Camera.objects.get().code == "34020000001320000001"
    as_number = xlsx(["编号", "名称", "经度", "纬度"], [[34020000001320000002, "数字编号", 103.605, 36.505]])
    report = import_file(as_number, "n.xlsx", actor=system_user)
    assert report.error_count == 1 and "文本" in report.errors[0]["message"]


def test_scoped_operator_imports_only_in_their_grids(make_user, two_communities):
    from shequ.accounts.models import Role

    operator2 = make_user(Role.COMMAND_OPERATOR, grids=(two_communities["community2"],))
    rows = [row(1), row(2, **{"经度*": 103.625})]
    report = import_file(xlsx(HEADERS, rows), "a.xlsx", actor=operator2)
    assert [(e["row"], e["column"], e["message"]) for e in report.errors] == [
        (2, "经度", "位置不在您管辖的网格内")
    ]
    assert not Camera.objects.exists()


@pytest.mark.parametrize(
    ("data", "name", "words"),
    [
        (b"", "a.xlsx", "空"),
        (b"\xd0\xcf\x11\xe0" + b"\0" * 100, "old.xls", ".xls"),
        (b"%PDF-1.4 ...", "a.pdf", "不是"),
        (b"PK\x03\x04garbage", "a.xlsx", "损坏"),
        ("编号,名称\nC1,一号\n".encode(), "a.csv", "缺少必填列"),
        ("颜色,大小\nred,1\n".encode(), "a.csv", "找不到表头"),
        ("编号,名称,经度,纬度,颜色\n".encode(), "a.csv", "无法识别的列"),
        ("编号,名称,经度,纬度\n".encode(), "a.csv", "没有数据行"),
    ],
)
def test_hostile_or_wrong_files_are_refused_whole(system_user, data, name, words):
    report = import_file(data, name, actor=system_user)
    assert report.error_count == 1 and report.errors[0]["row"] is None
    assert words in report.message, report.message
    assert not Camera.objects.exists()


def test_zip_that_is_not_a_workbook(system_user):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("readme.txt", "hello")
    report = import_file(out.getvalue(), "a.xlsx", actor=system_user)
    assert "不是 Excel" in report.message


def test_job_through_the_api(video_users, django_capture_on_commit_callbacks, two_communities):
    client = APIClient(raise_request_exception=False)
    client.force_login(video_users["operator"])
    upload = ContentFile(xlsx(HEADERS, [row(i) for i in range(1, 4)]), name="点位.xlsx")
    with django_capture_on_commit_callbacks(execute=False):
        answer = client.post("/api/video/cameras/import/", {"file": upload}, format="multipart")
    assert answer.status_code == 202, answer.content
    job = Job.objects.get(pk=answer.json()["job"])
    stored = str(job.input_file.name)
    jobs.run(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED and job.report["created"] == 3 and job.done == job.total == 3
    assert not job.input_file.storage.exists(stored)  # the upload held passwords: gone
    status = client.get(answer.json()["url"])
    assert status.status_code == 200 and status.json()["report"]["created"] == 3
    worker = APIClient()
    worker.force_login(video_users["worker11"])
    refused = worker.post(
        "/api/video/cameras/import/", {"file": ContentFile(b"x", name="a.csv")}, format="multipart"
    )
    assert refused.status_code == 403
    assert client.post("/api/video/cameras/import/", {}, format="multipart").status_code == 400


def test_failed_job_reports_rows(system_user, django_capture_on_commit_callbacks, two_communities):
    upload = ContentFile(csv_bytes(HEADERS, [row(1, **{"纬度*": 95})]), name="a.csv")
    with django_capture_on_commit_callbacks(execute=False):
        from shequ.video.services import import_cameras

        job = import_cameras(upload, actor=system_user)
    jobs.run(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert job.report["errors"][0]["row"] == 2 and job.report["errors"][0]["column"] == "纬度"
