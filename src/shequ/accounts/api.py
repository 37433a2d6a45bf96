"""REST endpoints of accounts, /api/accounts/...: who am I, and how far do I see."""

from __future__ import annotations

from typing import Any

from django.urls import path
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from shequ.accounts.models import Role

MeSerializer = inline_serializer(
    "Me",
    {
        "id": serializers.IntegerField(),
        "username": serializers.CharField(),
        "display_name": serializers.CharField(),
        "role": serializers.ChoiceField(choices=Role.choices),
        "role_label": serializers.CharField(),
        "department": inline_serializer(
            "MeDepartment",
            {"code": serializers.CharField(), "name": serializers.CharField()},
            allow_null=True,
        ),
        "grids": serializers.ListField(child=serializers.CharField()),
        "scope": inline_serializer(
            "MeScope", {"kind": serializers.CharField(), "label": serializers.CharField()}
        ),
        "may_reveal_personal_data": serializers.BooleanField(),
        "person": serializers.IntegerField(allow_null=True),
    },
)


@extend_schema(responses=MeSerializer)
@api_view(["GET"])
def me(request: Request) -> Response:
    """The logged-in user: role, department, assigned grids and the data scope that follows from them."""
    user: Any = request.user  # IsAuthenticated: a real User
    role = Role(user.role)
    department = user.department
    assignments = user.assignments.select_related("grid").order_by("grid__code")
    return Response(
        {
            "id": user.pk,
            "username": user.username,
            "display_name": user.display_name or user.username,
            "role": role.value,
            "role_label": str(role.label),
            "department": {"code": department.code, "name": department.name} if department else None,
            "grids": [a.grid.code for a in assignments],
            "scope": {"kind": role.scope.value, "label": str(role.scope.label)},
            "may_reveal_personal_data": role.may_reveal_personal_data,
            "person": user.person_id,
        }
    )


urlpatterns = [path("me/", me, name="me")]
