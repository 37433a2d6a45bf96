"""/api/accounts/me/ (who am I, how far do I see) and /api/jobs/<id>/ (my background work)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from shequ.accounts.models import Department, Role
from shequ.core import jobs
from shequ.core.models import Job

pytestmark = pytest.mark.django_db


@jobs.job_runner("test.accounts_api")
def count_to_ten(job: Job, progress: jobs.Progress) -> dict[str, Any]:
    return {"message": "done"}


def client_for(user: Any) -> APIClient:
    client = APIClient(raise_request_exception=False)
    client.force_login(user)
    return client


def test_me_tells_role_department_grids_and_scope(make_user, two_communities):
    g = two_communities
    worker = make_user(Role.GRID_WORKER, grids=(g["grid12"], g["grid11"]), display_name="王网格")
    body = client_for(worker).get("/api/accounts/me/").json()
    assert body["username"] == worker.username and body["display_name"] == "王网格"
    assert (body["role"], body["role_label"]) == ("grid_worker", "网格员")
    assert body["grids"] == [g["grid11"].code, g["grid12"].code]
    assert body["scope"] == {"kind": "area", "label": "所辖网格"}
    assert body["department"] is None and body["may_reveal_personal_data"] is True
    department = Department.objects.create(code="d1", name="城管执法中队")
    handler = make_user(Role.DEPARTMENT_HANDLER, department=department)
    body = client_for(handler).get("/api/accounts/me/").json()
    assert body["department"] == {"code": "d1", "name": "城管执法中队"}
    assert body["scope"]["kind"] == "department" and body["may_reveal_personal_data"] is False


def test_anonymous_callers_are_refused_everywhere(db):
    client = APIClient()
    for url in ("/api/accounts/me/", "/api/registry/people/", "/api/grids/", "/api/jobs/1/"):
        response = client.get(url)
        assert response.status_code == 403 and response.json()["detail"], url


def test_session_login_through_the_login_page_then_the_api(make_user):
    """The way docs/api.md tells a script to log in: the login form, then the session cookie."""
    make_user(Role.GRID_WORKER, username="script")
    client = Client(enforce_csrf_checks=True)
    page = client.get("/login/")
    token = page.cookies["csrftoken"].value
    login = client.post(
        "/login/", {"username": "script", "password": "Good-pass-2026", "csrfmiddlewaretoken": token}
    )
    assert login.status_code == 302
    assert client.get("/api/accounts/me/").json()["username"] == "script"
    # a write without the CSRF header is refused, with it the request reaches the endpoint
    refused = client.post("/api/registry/people/", {}, content_type="application/json")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    token = client.cookies["csrftoken"].value
    reached = client.post(
        "/api/registry/people/", {"name": ""}, content_type="application/json", HTTP_X_CSRFTOKEN=token
    )
    assert reached.status_code == 422


def test_job_status_is_seen_by_its_creator_and_administrators_only(make_user, system_user):
    owner = make_user(Role.SERVICE_CLERK)
    job = jobs.start_job("test.accounts_api", actor=owner)
    Job.objects.filter(pk=job.pk).update(status=Job.Status.RUNNING, total=8, done=2, message="第 2 行")
    body = client_for(owner).get(f"/api/jobs/{job.pk}/").json()
    assert (body["status"], body["done"], body["total"], body["percent"], body["message"]) == (
        "running",
        2,
        8,
        25,
        "第 2 行",
    )
    assert client_for(system_user).get(f"/api/jobs/{job.pk}/").status_code == 200
    other = client_for(make_user(Role.SERVICE_CLERK))
    assert other.get(f"/api/jobs/{job.pk}/").status_code == 404
    assert client_for(owner).get("/api/jobs/999999/").status_code == 404
    jobs.run(job.pk)  # already claimed as running: left alone
    Job.objects.filter(pk=job.pk).update(status=Job.Status.QUEUED)
    jobs.run(job.pk)
    body = client_for(owner).get(f"/api/jobs/{job.pk}/").json()
    assert (body["status"], body["percent"], body["report"]) == ("succeeded", 100, {"message": "done"})
