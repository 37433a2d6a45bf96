"""Pages of the one map: the map itself (/onemap/) and its offline basemap file, served with
HTTP range requests (/onemap/basemap.pmtiles). The big screen is screen.py."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils.http import http_date
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from shequ.cases.models import CaseState, Category, Source, StateKind
from shequ.cases.services.machine import Action
from shequ.onemap import basemap, tiles
from shequ.onemap.selectors import may_use_map
from shequ.web import access


def _url(name: str, default: str) -> str:
    try:
        return reverse(name)
    except NoReverseMatch:  # a part not wired yet (the live feed): its contract's address
        return default


def map_config(user: Any) -> dict[str, Any]:
    """What the page's script reads (a json_script block): the tile source, where the basemap and
    the layers are, the filters' choices and the strings it shows."""
    source = tiles.tile_source()
    pmtiles = basemap.path()
    return {
        "tiles": source.as_dict(),
        "basemap": {
            "url": reverse("web:onemap:basemap") if pmtiles.exists() else "",
            "layers": list(basemap.LAYERS),
            "min_zoom": basemap.MIN_ZOOM,
            "max_zoom": basemap.MAX_ZOOM,
        },
        "api": {
            "grids": reverse("onemap-grids"),
            "cases": reverse("onemap-cases"),
            "cameras": reverse("onemap-cameras"),
            "assets": reverse("onemap-assets"),
            "units": reverse("onemap-units"),
            "drones": reverse("onemap-drones"),
            "missions": reverse("onemap-missions"),
            "search": reverse("onemap-search"),
        },
        "feed_url": _url("web:live:feed", "/live/feed/"),
        "case_url": reverse("web:cases:detail", kwargs={"ref": "NUMBER"}),
        "states": {s.value: str(s.label) for s in CaseState},
        "state_kinds": {k.value: str(k.label) for k in StateKind},
        "actions": {a.value: str(a.label) for a in Action},
        "strings": {
            "state": _("状态"),
            "category": _("类别"),
            "address": _("地址"),
            "due": _("阶段时限"),
            "code": _("编码"),
            "grid_detail": _("网格详情"),
            "position": _("位置"),
            "department": _("部门"),
            "grids": _("网格"),
            "cases": _("案件"),
            "cameras": _("监控"),
            "open_camera": _("查看画面"),
            "assets": _("部件"),
            "units": _("处置力量"),
            "drones": _("无人机"),
            "missions": _("航线"),
            "dock": _("机巢"),
            "battery": _("电量"),
            "open_mission": _("查看航线"),
            "open": _("在办"),
            "overdue": _("超期"),
            "clustered": _("聚合"),
            "no_basemap": _("离线底图尚未生成 (运行 shequ basemap), 仅绘制网格边界"),
            "no_results": _("未找到"),
            "open_case": _("打开案件"),
            "on_duty": _("在岗"),
            "busy": _("忙碌"),
            "off_duty": _("离岗"),
            "minutes_ago": _("分钟前"),
        },
    }


@access.require(may_use_map)
def onemap(request: HttpRequest) -> HttpResponse:
    categories = Category.objects.filter(is_active=True, parent__isnull=True).order_by("kind", "code")
    context = {
        "nav": "onemap",
        "config": map_config(request.user),
        "categories": categories,
        "states": CaseState.choices,
        "state_kinds": StateKind.choices,
        "sources": Source.choices,
        "has_basemap": basemap.path().exists(),
    }
    return render(request, "onemap/map.html", context)


RANGE = re.compile(r"^bytes=([0-9]*)-([0-9]*)$")  # ASCII DIGITs (RFC 9110), not any Unicode digit
BEYOND = 10**18  # past any file: a position of more digits reads as this


def _position(digits: str) -> int:
    # A hostile header may carry thousands of digits: int() refuses past 4,300 (a 500).
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= 18 else BEYOND


def byte_range(header: str, size: int) -> tuple[int, int] | bool | None:
    """The (first, last) bytes asked for by a single-range `Range` header; None to serve the whole
    file (no header, another unit, several ranges: RFC 9110 lets a server ignore those); False when
    it cannot be satisfied (416)."""
    header = header.strip()
    if not header or not header.startswith("bytes="):
        return None
    if "," in header:
        return None
    match = RANGE.match(header.replace(" ", ""))
    if match is None:
        return False
    first, last = match.groups()
    if first == "" and last == "":
        return False
    if first == "":  # the last N bytes
        n = _position(last)
        if n == 0 or size == 0:
            return False
        return max(size - n, 0), size - 1
    start = _position(first)
    end = size - 1 if last == "" else min(_position(last), size - 1)
    if start >= size or (last != "" and _position(last) < start):
        return False
    return start, end


RANGE_PIECE = 64 * 1024


def _read_range(target: Any, first: int, last: int) -> Iterator[bytes]:
    with target.open("rb") as f:
        f.seek(first)
        left = last - first + 1
        while left > 0:
            piece = f.read(min(RANGE_PIECE, left))
            if not piece:  # the file shrank under us: end here (the client sees a short body)
                return
            left -= len(piece)
            yield piece


@require_safe
@access.require(may_use_map)  # type: ignore[arg-type]  # a FileResponse streams: not an HttpResponse
def basemap_file(request: HttpRequest) -> HttpResponseBase:
    """The PMTiles basemap, read by the browser in byte ranges (206, Accept-Ranges, Content-Range;
    416 for a range outside the file). 404 until `shequ basemap` has built it."""
    target = basemap.path()
    try:
        stat = target.stat()
    except FileNotFoundError:
        return HttpResponse(_("离线底图尚未生成: 运行 shequ basemap"), status=404, content_type="text/plain")
    size = stat.st_size
    tag = f'"{stat.st_mtime_ns:x}-{size:x}"'
    asked = byte_range(request.headers.get("Range", ""), size)
    if_range = request.headers.get("If-Range")
    if asked is not None and if_range and if_range.strip() != tag:
        asked = None  # the file changed since the client's first read: all of it (even for a 416)
    response: HttpResponseBase
    if asked is False:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
    elif asked is None:
        response = FileResponse(target.open("rb"), content_type="application/vnd.pmtiles")
        response["Content-Length"] = str(size)
    else:
        assert isinstance(asked, tuple)
        first, last = asked
        # Streamed in pieces: `bytes=0-` of a city's basemap must not be read into memory at once.
        response = StreamingHttpResponse(
            _read_range(target, first, last), status=206, content_type="application/vnd.pmtiles"
        )
        response["Content-Range"] = f"bytes {first}-{last}/{size}"
        response["Content-Length"] = str(last - first + 1)
    response["Accept-Ranges"] = "bytes"
    response["ETag"] = tag
    response["Last-Modified"] = http_date(stat.st_mtime)
    response["Cache-Control"] = "private, no-cache"
    return response
