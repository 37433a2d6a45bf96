"""The OpenAPI description (/api/schema/) is complete and true: drf-spectacular generates it without
a warning, and schemathesis, sending generated requests (valid and invalid) to every operation as an
administrator, finds no server error and no answer that contradicts the schema."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from shequ.accounts.models import Role
from shequ.accounts.services import create_user
from tests.cases.conftest import make_jpeg

pytestmark = pytest.mark.django_db

EXAMPLES = 12  # per operation and generation mode: enough to find a crash, cheap enough for CI


def test_schema_generates_without_warnings(tmp_path):
    # --fail-on-warn turns every guess drf-spectacular had to make into an error.
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    text = target.read_text()
    for path in ("/api/registry/people/", "/api/grids/locate/", "/api/accounts/me/", "/api/jobs/{id}/"):
        assert f"  {path}:" in text, path


def test_docs_pages_use_local_files(client, system_user):
    client.force_login(system_user)
    for url in ("/api/docs/", "/api/redoc/"):
        page = client.get(url)
        assert page.status_code == 200
        html = page.content.decode()
        assert "/static/drf_spectacular_sidecar/" in html, url
        assert "cdn" not in html.lower() and "unpkg" not in html and "jsdelivr" not in html, url
    schema = client.get("/api/schema/", {"format": "json"})
    assert schema.status_code == 200 and schema.json()["info"]["title"] == "Shequ API"


@contextlib.contextmanager
def one_connection() -> Iterator[None]:
    """Requests through the WSGI handler share the test's connection and transaction, as Django's
    test client arranges: the handler must not close it at the end of each request."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def known_ids(world: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Path parameters of rows that exist, so that details and acts are reached, not only 404s."""
    return {
        "/api/registry/people/{id}/": {"id": world["p11"].pk},
        "/api/registry/people/{id}/reveal/": {"id": world["p11"].pk},
        "/api/registry/households/{id}/": {"id": world["h11"].pk},
        "/api/registry/tags/{code}/": {"code": "elderly_alone"},
        "/api/grids/{code}/": {"code": world["grid11"].code},
        "/api/jobs/{id}/": {"id": world["job"].pk},
        **world.get("case_paths", {}),
    }


@pytest.fixture
def world(system_user, two_communities) -> dict[str, Any]:
    from shequ.core.jobs import job_runner, start_job
    from shequ.registry import services as registry
    from shequ.registry.models import Household, Tag

    g = dict(two_communities)
    household = Household.objects.create(number="H11", grid=g["grid11"], address="11号楼")
    g["h11"] = household
    g["p11"] = registry.create_person(
        {"name": "居民11", "gender": "男"},
        actor=system_user,
        household=household,
        tags=[Tag.objects.get(code="elderly_alone")],
    )
    job_runner("test.openapi")(lambda job, progress: {})
    g["job"] = start_job("test.openapi", actor=system_user)
    g["case_paths"] = case_paths(system_user, g) | video_paths(system_user)
    return g


def video_paths(admin: Any) -> dict[str, dict[str, Any]]:
    """A camera with its latest frame and analytics, an alert with snapshot and clip, one to act on."""
    import datetime as dt

    from django.utils import timezone

    from shequ.video import services as video
    from tests.video.conftest import mp4_clip

    camera = video.register_camera(actor=admin, code="CAM-API", name="测试摄像头", lon=103.605, lat=36.505)
    video.store_latest_snapshot(camera.pk, make_jpeg())
    at = timezone.now() - dt.timedelta(minutes=5)
    shown, _ = video.raise_alert(
        camera,
        origin="engine",
        source_id="api-1",
        kind="crowd",
        detected_at=at,
        box=(0.1, 0.1, 0.5, 0.9),
        snapshot=make_jpeg(),
        clip=mp4_clip(),
    )
    acted, _ = video.raise_alert(
        camera, origin="engine", source_id="api-2", kind="parking", detected_at=at, snapshot=make_jpeg()
    )
    return {
        "/api/video/cameras/{id}/": {"id": camera.pk},
        "/api/video/cameras/{id}/analytics/": {"id": camera.pk},
        "/api/video/cameras/{id}/snapshot/": {"id": camera.pk},
        "/api/video/alerts/{id}/": {"id": shown.pk},
        "/api/video/alerts/{id}/snapshot/": {"id": shown.pk},
        "/api/video/alerts/{id}/clip/": {"id": shown.pk},
        "/api/video/alerts/{id}/confirm/": {"id": acted.pk},
        "/api/video/alerts/{id}/dismiss/": {"id": acted.pk},
    }


def case_paths(admin: Any, g: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Cases in the state each act starts from, with a photo and an extension to point at."""
    from shequ.accounts.services import create_department
    from shequ.cases.models import Category
    from shequ.cases.services import intake, workflow

    department = create_department(code="ZF01", name="城管执法中队", actor=admin)
    handler = create_user(
        username="handler",
        password="Good-pass-2026",
        role=Role.DEPARTMENT_HANDLER,
        department=department,
        actor=admin,
    )
    category = Category.objects.filter(parent__isnull=False, kind="event").first()

    def case(state: str) -> Any:
        c, _created = intake.report_case(
            actor=admin,
            source="hotline",
            description=f"测试案件 {state}",
            category=category,
            lon=103.605,
            lat=36.505 + 0.001 * len(g.setdefault("_cases", [])),
            photos=[make_jpeg()],
        )
        g["_cases"].append(c)
        if state == "reported":
            return c
        workflow.file_case(c, actor=admin)
        if state == "filed":
            return c
        workflow.dispatch_case(c, department, actor=admin)
        if state == "dispatched":
            return c
        workflow.accept_case(c, actor=handler)
        if state == "in_progress":
            return c
        workflow.feedback_case(c, actor=handler, result="已处理")
        if state == "handled":
            return c
        workflow.verify_case(c, actor=admin, ok=True)
        return c

    reported, filed, dispatched = case("reported"), case("filed"), case("dispatched")
    in_progress, handled, closed = case("in_progress"), case("handled"), case("closed")
    extension = workflow.request_extension(in_progress, actor=handler, amount=1, unit="days", reason="等材料")
    photo = reported.evidence.get()
    return {
        "/api/cases/{id}/": {"id": handled.pk},
        "/api/cases/{id}/file/": {"id": reported.pk},
        "/api/cases/{id}/reject/": {"id": reported.pk},
        "/api/cases/{id}/merge/": {"id": reported.pk},
        "/api/cases/{id}/dispatch/": {"id": filed.pk},
        "/api/cases/{id}/accept/": {"id": dispatched.pk},
        "/api/cases/{id}/return/": {"id": dispatched.pk},
        "/api/cases/{id}/extension/": {"id": in_progress.pk},
        "/api/cases/{id}/extensions/{extension_id}/grant/": {
            "id": in_progress.pk,
            "extension_id": extension.pk,
        },
        "/api/cases/{id}/extensions/{extension_id}/refuse/": {
            "id": in_progress.pk,
            "extension_id": extension.pk,
        },
        "/api/cases/{id}/feedback/": {"id": in_progress.pk},
        "/api/cases/{id}/verify/": {"id": handled.pk},
        "/api/cases/{id}/callback/": {"id": closed.pk},
        "/api/cases/{id}/reopen/": {"id": closed.pk},
        "/api/cases/{id}/supervise/": {"id": filed.pk},
        "/api/cases/{id}/notes/": {"id": filed.pk},
        "/api/cases/{id}/photos/": {"id": reported.pk},
        "/api/cases/{id}/photos/{evidence_id}/": {"id": reported.pk, "evidence_id": photo.pk},
    }


def test_schemathesis_finds_no_server_error_and_no_schema_violation(world, system_user):
    assert system_user.role == Role.ADMINISTRATOR
    token = Token.objects.create(user=system_user).key
    auth = {"Authorization": f"Token {token}"}
    app = get_wsgi_application()
    paths = known_ids(world)
    failures: list[str] = []
    checks = [not_a_server_error, response_schema_conformance]
    with one_connection():
        schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", app, headers=auth)
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) > 20
        for operation in operations:
            strategies = [
                operation.as_strategy(generation_mode=mode)
                for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
            ]
            if operation.path in paths:
                real = paths[operation.path]
                strategies.append(operation.as_strategy(path_parameters=real))
            if operation.path.startswith("/api/measures/"):
                # Random dates mostly make a range the endpoint refuses (400); reach the table too.
                strategies.append(operation.as_strategy(query={"start": "2026-01-01", "end": "2026-12-31"}))

            @hypothesis.settings(
                max_examples=EXAMPLES * len(strategies),
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
                phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
            )
            @hypothesis.given(case=st.one_of(strategies))
            def run(case: schemathesis.Case) -> None:
                case.call_and_validate(headers=auth, checks=checks)

            try:
                run()
            # Collect every operation's failures and report them together (schemathesis raises a
            # FailureGroup, a BaseExceptionGroup).
            except (Exception, BaseExceptionGroup) as exc:
                failures.append(f"{operation.label}: {exc}"[:3000])
    assert not failures, "\n\n".join(failures)
