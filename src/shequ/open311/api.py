"""Open311 GeoReport v2 at /open311/v2/ (docs/open311.md): discovery, services, service
definitions, requests (GET and POST), one request, tokens, and FixMyStreet's
servicerequestupdates, each in XML and JSON.

Plain Django views, not DRF: the protocol has its own form encoding (`attribute[code]=`), its own
XML, its own error body and no session, so none of DRF's machinery applies. Thin all the same:
read the parameters, call one selector or service, render. Every refusal is the spec's error body
with the HTTP status as its code (400, 403, 404, 405, 413, 429), never a 500.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import BadRequest as MalformedRequest
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from django.utils import timezone, translation
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from shequ.cases import selectors as case_selectors
from shequ.cases.models import STATE_KIND, Case, CaseState, Category, QuestionDatatype, StateKind
from shequ.cases.services.questions import parse_moment
from shequ.core.audit import current_request
from shequ.core.errors import DomainError, Forbidden
from shequ.open311 import formats, selectors, services
from shequ.open311.formats import Item, Nested
from shequ.open311.models import ApiKey

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
# The day this interface last changed what it offers (discovery's `changeset`).
CHANGESET = dt.datetime(2026, 11, 29, tzinfo=dt.UTC)
DEFAULT_SPAN = dt.timedelta(days=90)  # the spec's default window and widest range
PAGE_SIZE_MAX = 1000  # the spec's recommended answer size, and the default
IDS_MAX = 200
PARAM_MAX = 4000
SHANGHAI = dt.timezone(dt.timedelta(hours=8))
# Case numbers and tokens are plain ASCII; anything else is no id (and PostgreSQL refuses NUL).
ID = re.compile(r"^[0-9A-Za-z_-]{1,40}$")

# Where a service's refusal of a field names it, and the Open311 parameter to name instead.
FIELD_NAMES = {
    "lon": "long",
    "lat": "lat",
    "reporter_phone": "phone",
    "reporter_name": "first_name/last_name",
    "address": "address_string",
    "photos": "media",
    "category": "service_code",
}


class NotFound(DomainError):
    status = 404


class BadRequest(DomainError):
    status = 400


def w3c(moment: dt.datetime | None) -> str | None:
    """A W3C datetime with the deployment's offset: 2026-11-29T08:15:00+08:00."""
    if moment is None:
        return None
    return timezone.localtime(moment).isoformat(timespec="seconds")


def _field(field: str | None) -> str:
    if not field:
        return ""
    if field.startswith("answers."):
        return f"attribute[{field.removeprefix('answers.')}]"
    return FIELD_NAMES.get(field, field)


def _client() -> str:
    ctx = current_request.get()
    return (ctx.ip if ctx else None) or "unknown"


def _language(request: HttpRequest) -> str:
    """Chinese unless the client asks for English (`locale=en` or Accept-Language: en...)."""
    try:
        locale = request.GET.get("locale")
    except (SuspiciousOperation, LookupError, UnicodeError):
        locale = None  # an unreadable query string is refused, in the spec's form, by `_params`
    wanted = (locale or request.headers.get("Accept-Language", "")).strip().lower()
    return "en" if wanted.startswith("en") else settings.LANGUAGE_CODE


def text(params: Any, name: str, limit: int = PARAM_MAX) -> str:
    """A parameter's text, control characters dropped; 400 when longer than `limit`."""
    value = params.get(name)
    if value is None:
        return ""
    value = formats.clean(str(value)).strip()
    if len(value) > limit:
        raise BadRequest(_("参数 %(name)s 过长(最多 %(n)d 字)") % {"name": name, "n": limit}, field=name)
    return value


def _params(request: HttpRequest) -> Any:
    """The request's parameters, parsed now. A Content-Type charset that Python knows but cannot
    decode text with (rot13, hex, idna) makes Django's parsing raise LookupError or UnicodeError:
    the client's error, so a 400, not a 500."""
    try:
        request.GET  # noqa: B018  (parsed here, where its failure is caught)
        return request.POST if request.method == "POST" else request.GET
    except (LookupError, UnicodeError):
        raise BadRequest(_("请求格式无效(字符集无法解码)")) from None


def open311(methods: tuple[str, ...]) -> Callable[..., Callable[..., HttpResponse]]:
    """The frame of every method: the format, language, jurisdiction, api_key, rate limit and
    refusals in the spec's form. The view receives the request, the format and the key (or None)."""

    def wrap(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @csrf_exempt  # clients post with an api_key, never a session cookie
        @functools.wraps(view)
        def run(request: HttpRequest, fmt: str = "xml", **kwargs: Any) -> HttpResponse:
            with translation.override(_language(request)):
                try:
                    if request.method not in methods:
                        response = formats.error(
                            fmt, 405, _("此地址不接受 %(method)s 请求") % {"method": request.method}
                        )
                        response["Allow"] = ", ".join(methods)
                        return response
                    params = _params(request)
                    jurisdiction = text(params, "jurisdiction_id", 200) or text(
                        request.GET, "jurisdiction_id", 200
                    )
                    if jurisdiction and jurisdiction != settings.OPEN311_JURISDICTION:
                        raise NotFound(
                            _("jurisdiction_id %(given)s 不存在: 本服务器的辖区为 %(ours)s")
                            % {"given": jurisdiction[:80], "ours": settings.OPEN311_JURISDICTION}
                        )
                    key = _key(text(params, "api_key", 200) or text(request.GET, "api_key", 200))
                    services.take_request(key, _client())
                    return view(request, fmt, key, **kwargs)
                except RequestDataTooBig:
                    limit_mb = settings.DATA_UPLOAD_MAX_MEMORY_SIZE // (1024 * 1024)
                    return formats.error(fmt, 413, _("请求内容过大(最多 %(n)d MB)") % {"n": limit_mb})
                except (SuspiciousOperation, MultiPartParserError, MalformedRequest):
                    return formats.error(fmt, 400, _("请求格式无效(表单或上传无法解析)"))
                except DomainError as exc:
                    status = {422: 400, 409: 400}.get(exc.status, exc.status)
                    name = _field(exc.field)
                    description = (
                        f"{name}: {exc.message}" if name and name not in exc.message else exc.message
                    )
                    response = formats.error(fmt, status, description)
                    if status == 429:
                        response["Retry-After"] = "60"
                    return response

        return run

    return wrap


def _key(raw: str) -> ApiKey | None:
    if not raw:
        return None
    key = selectors.key_for(raw)
    if key is None:
        raise Forbidden(_("api_key 无效"), field="api_key")
    if not key.is_active:
        raise Forbidden(_("api_key 已作废"), field="api_key")
    return key


# --- discovery and services ----------------------------------------------------------------------


@open311(("GET", "HEAD"))
def discovery(request: HttpRequest, fmt: str, key: ApiKey | None) -> HttpResponse:
    endpoint: Item = [
        ("specification", SPECIFICATION),
        ("url", request.build_absolute_uri("/open311/v2")),
        ("changeset", w3c(CHANGESET)),
        ("type", "production"),
        ("formats", Nested("format", ["text/xml", "application/json"])),
    ]
    item: Item = [
        ("changeset", w3c(CHANGESET)),
        ("contact", settings.OPEN311_CONTACT or _("请联系社区综合治理中心")),
        ("key_service", settings.OPEN311_KEY_SERVICE or _("API 密钥由平台管理员发放")),
        ("endpoints", Nested("endpoint", [endpoint])),
    ]
    return formats.render_one(fmt, "discovery", item)


def _service_item(category: Category) -> Item:
    questions = list(category.questions.all())
    major = category.parent.name if category.parent else ""
    return [
        ("service_code", selectors.service_code(category)),
        ("service_name", category.name),
        ("description", category.filing_condition or category.name),
        ("metadata", bool(questions)),
        ("type", "realtime" if case_selectors.files_on_report(category) else "batch"),
        ("keywords", ",".join(k for k in (str(category.get_kind_display()), major) if k)),
        ("group", major),
    ]


@open311(("GET", "HEAD"))
def service_list(request: HttpRequest, fmt: str, key: ApiKey | None) -> HttpResponse:
    items = [_service_item(c) for c in selectors.services()]
    return formats.render(fmt, "services", "service", items)


def _service(code: str) -> Category:
    category = selectors.service(code[:40])
    if category is None:
        raise NotFound(
            _("service_code %(code)s 不存在") % {"code": formats.clean(code[:40])}, field="service_code"
        )
    return category


@open311(("GET", "HEAD"))
def service_definition(request: HttpRequest, fmt: str, key: ApiKey | None, code: str) -> HttpResponse:
    category = _service(code)
    attributes: list[Item] = []
    for q in category.questions.all():
        lists = q.datatype in (QuestionDatatype.SINGLEVALUELIST, QuestionDatatype.MULTIVALUELIST)
        values = [[("key", c["key"]), ("name", c["name"])] for c in q.choices if isinstance(c, dict)]
        attributes.append(
            [
                ("variable", q.variable),
                ("code", q.code),
                ("datatype", q.datatype),
                ("required", q.required),
                ("datatype_description", q.hint or None),
                ("order", q.order),
                ("description", q.prompt),
                ("values", Nested("value", values if lists else [])),
            ]
        )
    item: Item = [
        ("service_code", selectors.service_code(category)),
        ("attributes", Nested("attribute", attributes)),
    ]
    return formats.render_one(fmt, "service_definition", item)


# --- requests -------------------------------------------------------------------------------------


def _status(state: str) -> str:
    return "closed" if STATE_KIND[CaseState(state)] == StateKind.CLOSED else "open"


def _notes(case: Case) -> str:
    master = selectors.public_master(case) if case.state == CaseState.MERGED else None
    if master is not None:
        return _("与 %(number)s 重复, 已合并") % {"number": master.number}
    return str(case.get_state_display())


def _request_item(case: Case, media: dict[int, str]) -> Item:
    category = case.category
    # A report refused as out of scope, abusive or invalid stays followable, but what it says (and
    # shows) is not published.
    shown = case.state != CaseState.REJECTED
    return [
        ("service_request_id", case.number),
        ("status", _status(case.state)),
        ("status_notes", _notes(case)),
        ("service_name", category.name if category else None),
        ("service_code", selectors.service_code(category) if category else None),
        ("description", case.description if shown else None),
        ("agency_responsible", case.department.name if case.department else None),
        ("service_notice", None),
        ("requested_datetime", w3c(case.created_at)),
        ("updated_datetime", w3c(case.updated_at)),
        ("expected_datetime", w3c(case.handle_due_at) if case.is_open else None),
        ("address", case.address or None),
        ("address_id", None),
        ("zipcode", None),
        ("lat", case.lat),
        ("long", case.lon),
        ("media_url", media.get(case.pk) if shown else None),
    ]


def _render_requests(fmt: str, cases: list[Case]) -> HttpResponse:
    media = selectors.media_urls([c.pk for c in cases])
    return formats.render(fmt, "service_requests", "request", [_request_item(c, media) for c in cases])


def _moment(params: Any, name: str) -> dt.datetime | None:
    value = text(params, name, 40)
    if not value:
        return None
    # An offset's "+" sent unescaped in a query string arrives as a space: read it as meant.
    value = re.sub(r"(T[0-9:.]+) ([0-9]{2}:?[0-9]{2})$", r"\1+\2", value)
    moment = parse_moment(value)
    if moment is None:
        day = None
        try:
            day = parse_date(value)
        except ValueError:
            day = None
        if day is not None and 1900 <= day.year <= 9998:
            moment = timezone.make_aware(dt.datetime.combine(day, dt.time()))
    if moment is None:
        raise BadRequest(
            _("%(name)s 应为 W3C 日期时间, 如 2026-11-29T08:00:00+08:00, 不是 %(value)s")
            % {"name": name, "value": value[:40]},
            field=name,
        )
    return moment


def _window(params: Any) -> tuple[dt.datetime, dt.datetime]:
    """start_date and end_date: at most 90 days apart; the last 90 days by default."""
    start, end = _moment(params, "start_date"), _moment(params, "end_date")
    if start is None and end is None:
        end = timezone.now()
    if start is None:
        assert end is not None
        start = end - DEFAULT_SPAN
    if end is None:
        end = start + DEFAULT_SPAN
    if start > end:
        raise BadRequest(_("start_date 晚于 end_date"), field="start_date")
    if end - start > DEFAULT_SPAN:
        raise BadRequest(_("start_date 与 end_date 相隔不能超过 90 天"), field="end_date")
    return start, end


def _int(params: Any, name: str, default: int, high: int) -> int:
    value = text(params, name, 12)
    if not value:
        return default
    if not re.fullmatch(r"[0-9]{1,9}", value) or not 1 <= int(value) <= high:
        raise BadRequest(
            _("%(name)s 应为 1 到 %(high)d 的整数, 不是 %(value)s")
            % {"name": name, "high": high, "value": value},
            field=name,
        )
    return int(value)


def _page(params: Any, qs: QuerySet[Any]) -> list[Any]:
    """The pagination extension: `page` (from 1) and `page_size` (at most 1000, the default)."""
    size = _int(params, "page_size", PAGE_SIZE_MAX, PAGE_SIZE_MAX)
    page = _int(params, "page", 1, 10**6)
    return list(qs[(page - 1) * size : page * size])


def _list(params: Any, name: str, limit: int = IDS_MAX) -> list[str]:
    items = [part.strip() for part in text(params, name).split(",") if part.strip()]
    if len(items) > limit:
        raise BadRequest(_("%(name)s 最多 %(n)d 项") % {"name": name, "n": limit}, field=name)
    return items


def _get_requests(request: HttpRequest, fmt: str) -> HttpResponse:
    params = request.GET
    cases = selectors.public_cases().order_by("-created_at", "-pk")
    ids = _list(params, "service_request_id")
    if ids:
        # The spec: with service_request_id, every other filter is ignored.
        return _render_requests(fmt, list(cases.filter(number__in=[i for i in ids if ID.match(i)])))
    codes = _list(params, "service_code")
    if codes:
        categories = []
        for code in codes:
            category = selectors.service(code[:40])
            if category is None:
                raise BadRequest(
                    _("service_code %(code)s 不存在") % {"code": code[:40]}, field="service_code"
                )
            categories.append(category)
        cases = cases.filter(category__in=categories)
    statuses = _list(params, "status")
    if statuses:
        unknown = [s for s in statuses if s not in ("open", "closed")]
        if unknown:
            raise BadRequest(
                _("status 只能是 open 或 closed, 不是 %(value)s") % {"value": unknown[0][:40]}, field="status"
            )
        states = [s for s in CaseState if _status(s) in statuses]
        cases = cases.filter(state__in=states)
    start, end = _window(params)
    cases = cases.filter(created_at__gte=start, created_at__lte=end)
    return _render_requests(fmt, _page(params, cases))


def _post_request(request: HttpRequest, fmt: str, key: ApiKey | None) -> HttpResponse:
    params = request.POST
    if key is None:
        raise Forbidden(_("提交服务请求须提供有效的 api_key"), field="api_key")
    code = text(params, "service_code", 40)
    if not code:
        raise BadRequest(_("缺少 service_code"), field="service_code")
    category = selectors.service(code)
    if category is None:
        raise BadRequest(_("service_code %(code)s 不存在") % {"code": code}, field="service_code")
    form = {name: [formats.clean(v) for v in params.getlist(name)] for name in params}
    data = services.RequestIn(
        service=category,
        lat=text(params, "lat", 40),
        long=text(params, "long", 40),
        address_string=text(params, "address_string"),
        address_id=text(params, "address_id", 200),
        description=text(params, "description"),
        media_url=text(params, "media_url"),
        email=text(params, "email", 400),
        first_name=text(params, "first_name", 200),
        last_name=text(params, "last_name", 200),
        phone=text(params, "phone", 40),
        device_id=text(params, "device_id", 400),
        account_id=text(params, "account_id", 400),
        answers=services.answers_from(form),
        photos=request.FILES.getlist("media"),
        # Not in the spec: a client that retries may send one, and gets the first answer again.
        idempotency_key=formats.clean(request.headers.get("Idempotency-Key", "")).strip(),
    )
    submission = services.submit_request(data, key=key)
    case = submission.case
    number = selectors.public_number(case)
    if case.state == CaseState.MERGED and number and number != case.number:
        notice = _("与已有事件 %(number)s 重复, 已合并到该事件") % {"number": number}
    elif number:
        notice = _("已受理, 事件编号 %(number)s") % {"number": number}
    else:
        notice = _("已收到, 待社区受理; 可凭 token 查询事件编号")
    item: Item = [("service_request_id", number)] if number else [("token", submission.token)]
    item += [("service_notice", notice), ("account_id", data.account_id or None)]
    return formats.render(fmt, "service_requests", "request", [item])


@open311(("GET", "HEAD", "POST"))
def requests(request: HttpRequest, fmt: str, key: ApiKey | None) -> HttpResponse:
    if request.method == "POST":
        return _post_request(request, fmt, key)
    return _get_requests(request, fmt)


@open311(("GET", "HEAD"))
def one_request(request: HttpRequest, fmt: str, key: ApiKey | None, number: str) -> HttpResponse:
    case = selectors.public_cases().filter(number=number).first() if ID.match(number) else None
    if case is None:
        raise NotFound(
            _("service_request_id %(id)s 不存在") % {"id": formats.clean(number[:40])},
            field="service_request_id",
        )
    return _render_requests(fmt, [case])


@open311(("GET", "HEAD"))
def token(request: HttpRequest, fmt: str, key: ApiKey | None, token: str) -> HttpResponse:
    submission = selectors.submission(token)
    if submission is None:
        raise NotFound(_("token %(token)s 不存在") % {"token": formats.clean(token[:40])}, field="token")
    number = selectors.public_number(submission.case)
    item: Item = [("service_request_id", number), ("token", submission.token)]
    return formats.render(fmt, "service_requests", "request", [item])


@open311(("GET", "HEAD"))
def updates(request: HttpRequest, fmt: str, key: ApiKey | None) -> HttpResponse:
    """FixMyStreet's servicerequestupdates: each step of the public cases, oldest first."""
    params = request.GET
    cases = selectors.public_cases()
    ids = _list(params, "service_request_id")
    if ids:
        cases = cases.filter(number__in=[i for i in ids if ID.match(i)])
    start, end = _window(params)
    entries = _page(params, case_selectors.public_updates(cases, since=start, until=end))
    items: list[Item] = [
        [
            ("update_id", str(row.id)),
            ("service_request_id", row.number),
            ("status", _status(row.state)),
            ("updated_datetime", w3c(row.at)),
            ("description", row.text),
            ("media_url", None),
            ("external_status_code", row.state),
        ]
        for row in case_selectors.public_update_rows(entries, settings.OPEN311_PUBLIC_SOURCES)
    ]
    return formats.render(fmt, "service_request_updates", "request_update", items)


@open311(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"))
def unknown(request: HttpRequest, fmt: str, key: ApiKey | None, path: str = "") -> HttpResponse:
    raise NotFound(_("没有这个 Open311 地址; 见 /open311/v2/discovery.xml"))
