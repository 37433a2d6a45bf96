"""REST endpoints of the shared kernel: the progress of a background job."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from shequ.accounts.models import Role
from shequ.core.models import Job


def access_job(user: Any, pk: int) -> Job | None:
    """A job is seen by whoever started it and by administrators; to others it does not exist."""
    qs = Job.objects.filter(pk=pk)
    if Role(user.role) != Role.ADMINISTRATOR:
        qs = qs.filter(created_by=user)
    return qs.first()


JobSerializer = inline_serializer(
    "Job",
    {
        "id": serializers.IntegerField(),
        "kind": serializers.CharField(),
        "status": serializers.ChoiceField(choices=Job.Status.choices),
        "status_label": serializers.CharField(),
        "done": serializers.IntegerField(),
        "total": serializers.IntegerField(),
        "percent": serializers.IntegerField(),
        "message": serializers.CharField(),
        "report": serializers.JSONField(),
        "created_at": serializers.DateTimeField(),
        "updated_at": serializers.DateTimeField(),
        "finished_at": serializers.DateTimeField(allow_null=True),
    },
)


@extend_schema(
    parameters=[OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH)], responses=JobSerializer
)
@api_view(["GET"])
def job_status(request: Request, pk: str) -> Response:
    # Parsed here rather than by an <int:> converter so a junk id is a JSON 404 like any other.
    job = access_job(request.user, int(pk)) if pk.isascii() and pk.isdigit() and len(pk) <= 18 else None
    if job is None:
        raise Http404
    return Response(
        {
            "id": job.pk,
            "kind": job.kind,
            "status": job.status,
            "status_label": job.get_status_display(),
            "done": job.done,
            "total": job.total,
            "percent": job.percent,
            "message": job.message,
            "report": job.report,
            "created_at": job.created_at,
            "updated_at": job.updated_at,
            "finished_at": job.finished_at,
        },
        headers={"Cache-Control": "no-store"},
    )


urlpatterns = [path("<str:pk>/", job_status, name="job-status")]
