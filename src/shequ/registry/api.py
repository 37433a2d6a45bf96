"""REST endpoints of the registers, /api/registry/...: thin, every queryset from the selectors.

A row outside the caller's data scope answers 404, never 403: the answer must not tell that it exists.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from django.db import IntegrityError
from django.db.models import Count, Prefetch, Q, QuerySet
from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view, inline_serializer
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from shequ.accounts.models import Role, ScopeKind
from shequ.core import crypto
from shequ.core.api import (
    BadRequest,
    Pagination,
    StrictInput,
    param_bbox,
    param_choice,
    param_int,
    param_text,
    read_input,
)
from shequ.core.errors import Conflict, Forbidden, Invalid
from shequ.grids.selectors import access_grid
from shequ.registry import identifiers, selectors, services
from shequ.registry.models import Asset, Building, Household, Organization, Person, Tag

# Who may write the people and organization registers. A grid worker collects data in their own
# grids; the data scope (not this list) keeps every writer inside their area.
REGISTER_WRITE_ROLES = frozenset(
    {Role.ADMINISTRATOR, Role.COMMAND_OPERATOR, Role.GRID_WORKER, Role.SERVICE_CLERK}
)
GEOJSON_DEFAULT = 1000
GEOJSON_MAX = 5000
MAX_PK = 2**62


def require_writer(user: Any) -> None:
    if Role(user.role) not in REGISTER_WRITE_ROLES:
        raise Forbidden("您的角色无权修改登记信息")


def parse_pk(raw: Any) -> int:
    """A path id that is not a sane integer is simply not found."""
    text = str(raw)
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise Http404
    return int(text)


def in_grid(qs: QuerySet[Any], user: Any, code: str | None, *, via: str = "grid") -> QuerySet[Any]:
    """Rows in the grid with this code or below it; a grid the user cannot see matches nothing."""
    if code is None:
        return qs
    grid = access_grid(user, code)
    return qs.none() if grid is None else qs.filter(**{f"{via}__path__startswith": grid.path})


def in_bbox(qs: QuerySet[Any], params: Mapping[str, str]) -> QuerySet[Any]:
    box = param_bbox(params)
    if box is None:
        return qs
    min_lon, min_lat, max_lon, max_lat = box
    return qs.filter(lon__gte=min_lon, lon__lte=max_lon, lat__gte=min_lat, lat__lte=max_lat)


def years_ago(today: dt.date, years: int) -> dt.date:
    try:
        return today.replace(year=today.year - years)
    except ValueError:  # 29 February in a year without one
        return today.replace(year=today.year - years, day=28)


def geojson_response(
    rows: QuerySet[Any], params: Mapping[str, str], feature: Callable[[Any], dict[str, Any] | None]
) -> Response:
    """A FeatureCollection of at most `limit` rows; `truncated` says that more matched."""
    limit = param_int(params, "limit", low=1, high=GEOJSON_MAX) or GEOJSON_DEFAULT
    batch = list(rows[: limit + 1])
    features = [f for f in map(feature, batch[:limit]) if f is not None]
    body = {"type": "FeatureCollection", "features": features, "truncated": len(batch) > limit}
    return Response(body, content_type="application/geo+json")


def point(lon: float | None, lat: float | None) -> dict[str, Any] | None:
    return None if lon is None or lat is None else {"type": "Point", "coordinates": [lon, lat]}


# --- how the endpoints are described in the OpenAPI schema (/api/schema/) -------------------------


def query(name: str, kind: type = str, description: str = "", enum: Any = None) -> OpenApiParameter:
    return OpenApiParameter(name, kind, OpenApiParameter.QUERY, description=description, enum=enum)


Q_PARAM = query("q", description="包含的文字")
GRID_PARAM = query("grid", description="网格编码: 该网格及其下级")
BBOX_PARAM = query("bbox", description="最小经度,最小纬度,最大经度,最大纬度 (WGS-84)")
GEOJSON_LIMIT = query("limit", int, f"最多返回的要素数 (1–{GEOJSON_MAX}, 默认 {GEOJSON_DEFAULT})")
FeatureCollection = inline_serializer(
    "FeatureCollection",
    {
        "type": serializers.CharField(),
        "features": serializers.ListField(child=serializers.DictField()),
        "truncated": serializers.BooleanField(),
    },
)
GEOJSON_RESPONSE = {(200, "application/geo+json"): FeatureCollection}


# --- people ---------------------------------------------------------------------------------------


def people_queryset(user: Any) -> QuerySet[Person]:
    """The caller's people with what a page of them shows, in a fixed number of queries."""
    return (
        selectors.people_for(user)
        .select_related("grid", "household")
        .prefetch_related(Prefetch("tags", queryset=selectors.tags_for(user)))
        .order_by("id")
    )


def filter_people(qs: QuerySet[Person], params: Mapping[str, str], user: Any) -> QuerySet[Person]:
    if q := param_text(params, "q", max_length=50):
        qs = qs.filter(name__icontains=q)
    if (id_number := param_text(params, "id_number", max_length=40)) is not None:
        try:
            number = identifiers.parse_resident_id(id_number).number
        except identifiers.IdentifierError as exc:
            raise BadRequest(f"身份证号无效: {exc}", field="id_number") from None
        qs = selectors.people_with_id_number(qs, number)
    if (phone := param_text(params, "phone", max_length=40)) is not None:
        try:
            number = identifiers.parse_phone(phone).number
        except identifiers.IdentifierError as exc:
            raise BadRequest(f"电话号码无效: {exc}", field="phone") from None
        qs = qs.filter(phone_hash=crypto.keyed_hash(services.PHONE_KIND, number))
    qs = in_grid(qs, user, param_text(params, "grid", max_length=20))
    if (tag := param_text(params, "tag", max_length=40)) is not None:
        qs = selectors.people_with_tag(qs, user, tag)
    if residence := param_choice(params, "residence", Person.Residence.values):
        qs = qs.filter(residence=residence)
    if gender := param_choice(params, "gender", Person.Gender.values):
        qs = qs.filter(gender=gender)
    if household := param_int(params, "household", low=1, high=MAX_PK):
        qs = qs.filter(household_id=household)
    age_min = param_int(params, "age_min", low=0, high=150)
    age_max = param_int(params, "age_max", low=0, high=150)
    if age_min is not None and age_max is not None and age_min > age_max:
        raise BadRequest("age_min 不能大于 age_max", field="age_min")
    today = timezone.localdate()
    if age_min is not None:
        qs = qs.filter(birth_date__lte=years_ago(today, age_min))
    if age_max is not None:
        qs = qs.filter(birth_date__gt=years_ago(today, age_max + 1))
    return qs


class TagSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tag
        fields = ["code", "name", "is_sensitive"]


class PersonSerializer(serializers.ModelSerializer):
    """A person as the API shows them: ID and phone numbers masked (reveal is a separate, audited act)."""

    id_number = serializers.SerializerMethodField()
    phone = serializers.SerializerMethodField()
    gender_label = serializers.CharField(source="get_gender_display")
    residence_label = serializers.CharField(source="get_residence_display")
    age = serializers.SerializerMethodField()
    grid = serializers.SerializerMethodField()
    household = serializers.SerializerMethodField()
    tags = serializers.SerializerMethodField()

    class Meta:
        model = Person
        fields = [
            "id",
            "name",
            "gender",
            "gender_label",
            "birth_date",
            "age",
            "id_number",
            "phone",
            "ethnicity",
            "residence",
            "residence_label",
            "household",
            "relation",
            "grid",
            "tags",
            "note",
            "is_active",
            "created_at",
            "updated_at",
        ]

    def get_id_number(self, obj: Person) -> str:
        return identifiers.mask_resident_id(obj.id_number) if obj.id_number else ""

    def get_phone(self, obj: Person) -> str:
        return identifiers.mask_phone(obj.phone) if obj.phone else ""

    def get_age(self, obj: Person) -> int | None:
        if obj.birth_date is None:
            return None
        today = timezone.localdate()
        born = obj.birth_date
        return today.year - born.year - ((today.month, today.day) < (born.month, born.day))

    def get_grid(self, obj: Person) -> str | None:
        return obj.grid.code if obj.grid else None

    def get_household(self, obj: Person) -> dict[str, Any] | None:
        h = obj.household
        return {"id": h.pk, "number": h.number} if h else None

    def get_tags(self, obj: Person) -> list[dict[str, str]]:
        # The prefetch in people_queryset holds only the tags this caller may see.
        return [{"code": t.code, "name": t.name} for t in obj.tags.all()]


class PersonFields(StrictInput):
    name = serializers.CharField(required=False, allow_blank=True, max_length=100)
    gender = serializers.CharField(required=False, allow_blank=True, max_length=20)
    birth_date = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=20)
    id_number = serializers.CharField(required=False, allow_blank=True, max_length=40)
    phone = serializers.CharField(required=False, allow_blank=True, max_length=40)
    ethnicity = serializers.CharField(required=False, allow_blank=True, max_length=20)
    residence = serializers.CharField(required=False, allow_blank=True, max_length=20)
    relation = serializers.CharField(required=False, allow_blank=True, max_length=20)
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class PersonCreateInput(PersonFields):
    household = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=MAX_PK)
    tags = serializers.ListField(
        child=serializers.CharField(max_length=40), required=False, max_length=50, allow_empty=True
    )


class RevealInput(StrictInput):
    purpose = serializers.CharField(allow_blank=True, max_length=200, trim_whitespace=True)


@extend_schema_view(
    list=extend_schema(
        parameters=[
            Q_PARAM,
            query("id_number", description="身份证号 (精确)"),
            query("phone", description="电话 (精确)"),
            GRID_PARAM,
            query("tag", description="标签编码"),
            query("residence", enum=Person.Residence.values),
            query("gender", enum=Person.Gender.values),
            query("household", int),
            query("age_min", int, "周岁, 0–150"),
            query("age_max", int, "周岁, 0–150"),
        ]
    ),
    create=extend_schema(request=PersonCreateInput, responses={201: PersonSerializer}),
    partial_update=extend_schema(request=PersonFields, responses=PersonSerializer),
    reveal=extend_schema(
        request=RevealInput,
        responses=inline_serializer(
            "RevealedPerson",
            {
                "id": serializers.IntegerField(),
                "id_number": serializers.CharField(),
                "phone": serializers.CharField(),
            },
        ),
    ),
)
class PersonViewSet(viewsets.GenericViewSet):
    """居民: list, search, register, correct; reveal the full numbers with a stated purpose."""

    pagination_class = Pagination
    serializer_class = PersonSerializer  # for the schema; the methods name their serializers

    def get_queryset(self) -> QuerySet[Person]:
        return people_queryset(self.request.user)

    def _shown(self, pk: int) -> Response:
        person = self.get_queryset().filter(pk=pk).first()
        if person is None:
            raise Http404
        return Response(PersonSerializer(person).data)

    def _access(self, pk: Any) -> Person:
        person = selectors.access_person(self.request.user, parse_pk(pk))
        if person is None:
            raise Http404
        return person

    def list(self, request: Request) -> Response:
        qs = filter_people(self.get_queryset(), request.query_params, request.user)
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(PersonSerializer(page, many=True).data)

    def retrieve(self, request: Request, pk: Any = None) -> Response:
        return self._shown(parse_pk(pk))

    def create(self, request: Request) -> Response:
        user: Any = request.user
        require_writer(user)
        data = dict(read_input(PersonCreateInput, request).validated_data)
        household = None
        if (household_id := data.pop("household", None)) is not None:
            household = selectors.households_for(user).filter(pk=household_id).first()
            if household is None:
                raise Invalid("户不存在或不在您负责的范围内", field="household")
        elif Role(user.role).scope != ScopeKind.ALL:
            # Without a household the person would land in no grid, out of the writer's own sight.
            raise Invalid("请指定所属户(登记须落在您负责的网格内)", field="household")
        codes = data.pop("tags", [])
        tags = list(selectors.tags_for(user).filter(code__in=codes))
        if missing := sorted(set(codes) - {t.code for t in tags}):
            raise Invalid(f"标签不存在: {', '.join(missing)}", field="tags")
        try:
            person = services.create_person(data, actor=user, household=household, tags=tags)
        except IntegrityError:  # a concurrent registration of the same ID number won the race
            raise Conflict("该身份证号已登记", field="id_number") from None
        response = self._shown(person.pk)
        response.status_code = 201
        return response

    def partial_update(self, request: Request, pk: Any = None) -> Response:
        person = self._access(pk)  # 404 first: a writer outside their scope learns nothing
        require_writer(request.user)
        data = read_input(PersonFields, request).validated_data
        try:
            services.update_person(person, data, actor=request.user)
        except IntegrityError:
            raise Conflict("该身份证号已登记", field="id_number") from None
        return self._shown(person.pk)

    @action(detail=True, methods=["post"])
    def reveal(self, request: Request, pk: Any = None) -> Response:
        person = self._access(pk)
        purpose = read_input(RevealInput, request).validated_data["purpose"]
        values = services.reveal_person(person, actor=request.user, purpose=purpose)
        return Response({"id": person.pk, **values}, headers={"Cache-Control": "no-store"})


# --- households, buildings, organizations, assets, tags -------------------------------------------


def grid_code(obj: Any) -> str | None:
    return obj.grid.code if obj.grid_id else None


class HouseholdSerializer(serializers.ModelSerializer):
    grid = serializers.SerializerMethodField()
    dwelling = serializers.SerializerMethodField()
    member_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Household
        fields = ["id", "number", "address", "dwelling", "grid", "member_count", "created_at", "updated_at"]

    def get_grid(self, obj: Household) -> str | None:
        return grid_code(obj)

    def get_dwelling(self, obj: Household) -> dict[str, Any] | None:
        d = obj.dwelling
        if d is None:
            return None
        return {"id": d.pk, "building": d.building.code, "unit": d.unit, "number": d.number}


class BuildingSerializer(serializers.ModelSerializer):
    grid = serializers.SerializerMethodField()
    use_label = serializers.CharField(source="get_use_display")

    class Meta:
        model = Building
        fields = ["id", "code", "name", "address", "use", "use_label", "floors", "lon", "lat", "grid"]

    def get_grid(self, obj: Building) -> str | None:
        return grid_code(obj)


class OrganizationSerializer(serializers.ModelSerializer):
    grid = serializers.SerializerMethodField()
    kind_label = serializers.CharField(source="get_kind_display")

    class Meta:
        model = Organization
        fields = [
            "id",
            "name",
            "kind",
            "kind_label",
            "credit_code",
            "legal_representative",
            "phone",
            "address",
            "staff_count",
            "lon",
            "lat",
            "grid",
            "created_at",
            "updated_at",
        ]

    def get_grid(self, obj: Organization) -> str | None:
        return grid_code(obj)


class AssetSerializer(serializers.ModelSerializer):
    grid = serializers.SerializerMethodField()
    category = serializers.SerializerMethodField()
    status_label = serializers.CharField(source="get_status_display")
    owner = serializers.SerializerMethodField()

    class Meta:
        model = Asset
        fields = [
            "id",
            "code",
            "name",
            "category",
            "status",
            "status_label",
            "owner",
            "address",
            "lon",
            "lat",
            "grid",
            "note",
        ]

    def get_grid(self, obj: Asset) -> str | None:
        return grid_code(obj)

    def get_category(self, obj: Asset) -> dict[str, str]:
        return {"code": obj.category.code, "name": obj.category.name}

    def get_owner(self, obj: Asset) -> str | None:
        return obj.owner.name if obj.owner else None


class OrganizationInput(StrictInput):
    name = serializers.CharField(required=False, allow_blank=True, max_length=150)
    kind = serializers.CharField(required=False, allow_blank=True, max_length=30)
    credit_code = serializers.CharField(required=False, allow_blank=True, max_length=40)
    legal_representative = serializers.CharField(required=False, allow_blank=True, max_length=50)
    phone = serializers.CharField(required=False, allow_blank=True, max_length=30)
    address = serializers.CharField(required=False, allow_blank=True, max_length=200)
    lon = serializers.FloatField(required=False, allow_null=True)
    lat = serializers.FloatField(required=False, allow_null=True)


class ScopedReadViewSet(viewsets.ReadOnlyModelViewSet):
    """List and retrieve through a selector; `filter_rows` applies the query parameters."""

    pagination_class = Pagination
    selector: Callable[[Any], QuerySet[Any]]

    def base_queryset(self) -> QuerySet[Any]:
        return type(self).selector(self.request.user)

    def filter_rows(self, qs: QuerySet[Any], params: Mapping[str, str]) -> QuerySet[Any]:
        return qs

    def get_queryset(self) -> QuerySet[Any]:
        qs = self.base_queryset()
        if self.action == "list" or self.action == "geojson":
            qs = self.filter_rows(qs, self.request.query_params)
        return qs

    def get_object(self) -> Any:
        lookup = self.kwargs[self.lookup_url_kwarg or self.lookup_field]
        value = parse_pk(lookup) if self.lookup_field == "pk" else str(lookup)
        if "\x00" in str(value):  # PostgreSQL refuses a NUL in a text parameter: no row has one
            raise Http404
        obj = self.base_queryset().filter(**{self.lookup_field: value}).first()
        if obj is None:
            raise Http404
        return obj


@extend_schema_view(list=extend_schema(parameters=[Q_PARAM, GRID_PARAM]))
class HouseholdViewSet(ScopedReadViewSet):
    serializer_class = HouseholdSerializer
    selector = staticmethod(selectors.households_for)

    def base_queryset(self) -> QuerySet[Household]:
        return (
            super()
            .base_queryset()
            .select_related("grid", "dwelling__building")
            .annotate(member_count=Count("members"))
            .order_by("number")
        )

    def filter_rows(self, qs: QuerySet[Any], params: Mapping[str, str]) -> QuerySet[Any]:
        if q := param_text(params, "q", max_length=100):
            qs = qs.filter(Q(number__icontains=q) | Q(address__icontains=q))
        return in_grid(qs, self.request.user, param_text(params, "grid", max_length=20))


BUILDING_PARAMETERS = [Q_PARAM, query("use", enum=Building.Use.values), GRID_PARAM, BBOX_PARAM]


@extend_schema_view(
    list=extend_schema(parameters=BUILDING_PARAMETERS),
    geojson=extend_schema(parameters=[*BUILDING_PARAMETERS, GEOJSON_LIMIT], responses=GEOJSON_RESPONSE),
)
class BuildingViewSet(ScopedReadViewSet):
    serializer_class = BuildingSerializer
    selector = staticmethod(selectors.buildings_for)

    def base_queryset(self) -> QuerySet[Building]:
        return super().base_queryset().select_related("grid").order_by("code")

    def filter_rows(self, qs: QuerySet[Any], params: Mapping[str, str]) -> QuerySet[Any]:
        if q := param_text(params, "q", max_length=100):
            qs = qs.filter(Q(code__icontains=q) | Q(name__icontains=q) | Q(address__icontains=q))
        if use := param_choice(params, "use", Building.Use.values):
            qs = qs.filter(use=use)
        qs = in_grid(qs, self.request.user, param_text(params, "grid", max_length=20))
        return in_bbox(qs, params)

    @action(detail=False, methods=["get"])
    def geojson(self, request: Request) -> Response:
        def feature(b: Building) -> dict[str, Any] | None:
            geometry = b.footprint or point(b.lon, b.lat)
            if geometry is None:
                return None
            props = {"id": b.pk, "code": b.code, "name": b.name, "use": b.use, "grid": grid_code(b)}
            return {"type": "Feature", "id": b.pk, "geometry": geometry, "properties": props}

        return geojson_response(self.get_queryset(), request.query_params, feature)


@extend_schema_view(
    list=extend_schema(
        parameters=[
            Q_PARAM,
            query("kind", enum=Organization.Kind.values),
            query("credit_code", description="统一社会信用代码"),
            GRID_PARAM,
            BBOX_PARAM,
        ]
    ),
    create=extend_schema(request=OrganizationInput, responses={201: OrganizationSerializer}),
)
class OrganizationViewSet(ScopedReadViewSet):
    serializer_class = OrganizationSerializer
    selector = staticmethod(selectors.organizations_for)

    def base_queryset(self) -> QuerySet[Organization]:
        return super().base_queryset().select_related("grid").order_by("name", "id")

    def filter_rows(self, qs: QuerySet[Any], params: Mapping[str, str]) -> QuerySet[Any]:
        if q := param_text(params, "q", max_length=100):
            qs = qs.filter(Q(name__icontains=q) | Q(address__icontains=q))
        if kind := param_choice(params, "kind", Organization.Kind.values):
            qs = qs.filter(kind=kind)
        if credit_code := param_text(params, "credit_code", max_length=40):
            qs = qs.filter(credit_code=credit_code.upper())
        qs = in_grid(qs, self.request.user, param_text(params, "grid", max_length=20))
        return in_bbox(qs, params)

    def create(self, request: Request) -> Response:
        user = request.user
        require_writer(user)
        data = read_input(OrganizationInput, request).validated_data
        try:
            org = services.create_organization(data, actor=user)
        except IntegrityError:
            raise Conflict("该统一社会信用代码已登记", field="credit_code") from None
        return Response(OrganizationSerializer(self.base_queryset().get(pk=org.pk)).data, status=201)


ASSET_PARAMETERS = [
    Q_PARAM,
    query("category", description="部件类别编码 (大类含其小类)"),
    query("status", enum=Asset.Status.values),
    GRID_PARAM,
    BBOX_PARAM,
]


@extend_schema_view(
    list=extend_schema(parameters=ASSET_PARAMETERS),
    geojson=extend_schema(parameters=[*ASSET_PARAMETERS, GEOJSON_LIMIT], responses=GEOJSON_RESPONSE),
)
class AssetViewSet(ScopedReadViewSet):
    serializer_class = AssetSerializer
    selector = staticmethod(selectors.assets_for)

    def base_queryset(self) -> QuerySet[Asset]:
        return super().base_queryset().select_related("grid", "category", "owner").order_by("code")

    def filter_rows(self, qs: QuerySet[Any], params: Mapping[str, str]) -> QuerySet[Any]:
        if q := param_text(params, "q", max_length=100):
            qs = qs.filter(Q(code__icontains=q) | Q(name__icontains=q) | Q(address__icontains=q))
        if category := param_text(params, "category", max_length=10):
            qs = qs.filter(Q(category__code=category) | Q(category__parent__code=category))
        if status := param_choice(params, "status", Asset.Status.values):
            qs = qs.filter(status=status)
        qs = in_grid(qs, self.request.user, param_text(params, "grid", max_length=20))
        return in_bbox(qs, params)

    @action(detail=False, methods=["get"])
    def geojson(self, request: Request) -> Response:
        def feature(a: Asset) -> dict[str, Any] | None:
            geometry = point(a.lon, a.lat)
            if geometry is None:
                return None
            props = {
                "id": a.pk,
                "code": a.code,
                "name": a.name,
                "category": a.category.code,
                "status": a.status,
                "grid": grid_code(a),
            }
            return {"type": "Feature", "id": a.pk, "geometry": geometry, "properties": props}

        return geojson_response(self.get_queryset(), request.query_params, feature)


@extend_schema_view(list=extend_schema(parameters=[Q_PARAM]))
class TagViewSet(ScopedReadViewSet):
    serializer_class = TagSerializer
    selector = staticmethod(selectors.tags_for)
    lookup_field = "code"
    lookup_value_regex = "[^/]+"

    def filter_rows(self, qs: QuerySet[Any], params: Mapping[str, str]) -> QuerySet[Any]:
        if q := param_text(params, "q", max_length=50):
            qs = qs.filter(Q(code__icontains=q) | Q(name__icontains=q))
        return qs.order_by("code")


router = SimpleRouter()
router.register("people", PersonViewSet, basename="person")
router.register("households", HouseholdViewSet, basename="household")
router.register("buildings", BuildingViewSet, basename="building")
router.register("organizations", OrganizationViewSet, basename="organization")
router.register("assets", AssetViewSet, basename="asset")
router.register("tags", TagViewSet, basename="tag")
urlpatterns = router.urls
