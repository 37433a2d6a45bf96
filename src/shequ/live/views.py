"""`GET /live/feed/`: the live feed as server-sent events (docs/live.md, docs/api.md "Live feed").

An async view: under ASGI (uvicorn, `shequ serve`) a connection costs a coroutine, not a thread.
On connect it subscribes to the layer first, then replays what the client missed from the outbox
table up to the pump's settled mark, then streams what the layer brings, skipping any seq it has
already passed: every event in the viewer's scope exactly once, in seq order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import OperationalError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from shequ.core.models import Event
from shequ.live.messages import FEED_TYPES, FeedItem, to_items
from shequ.live.pump import GROUP, MESSAGE_TYPE, get_pump
from shequ.live.scope import Viewer, viewer_for

log = logging.getLogger(__name__)
MAX_SEQ = 2**63 - 1
SCAN_MAX = 20_000  # rows of feed types read for one replay at most (beyond: reset)
RETRY_MS = 3000  # how soon EventSource reconnects


def _db(fn: Any) -> Any:
    """Run a database read from the stream in a worker thread and close that thread's connection
    after it: a stream lives for hours and needs a connection only for these moments."""

    def call(*args: Any) -> Any:
        try:
            for attempt in range(5):
                try:
                    return fn(*args)
                except OperationalError as exc:  # SQLite: a writer holds the table a moment
                    if "locked" not in str(exc) or attempt == 4:
                        raise
                    time.sleep(0.05 * (attempt + 1))
        finally:
            connection.close()

    return sync_to_async(call)


def _bad(message: str, field: str) -> JsonResponse:
    return JsonResponse(
        {"detail": message, "field": field}, status=400, json_dumps_params={"ensure_ascii": False}
    )


def parse_after(request: HttpRequest) -> tuple[int | None, JsonResponse | None]:
    """The seq the client has seen: `Last-Event-ID` (EventSource on reconnect) or `?after=`."""
    for field, raw in (
        ("Last-Event-ID", request.headers.get("Last-Event-ID")),
        ("after", request.GET.get("after")),
    ):
        if raw is None or raw.strip() == "":
            continue
        value = raw.strip()
        if not value.isascii() or not value.isdigit() or len(value) > 19 or int(value) > MAX_SEQ:
            return None, _bad(
                _("%(field)s 应为事件序号(非负整数), 不是 %(value)r") % {"field": field, "value": raw[:40]},
                field,
            )
        return int(value), None
    return None, None


def replay(viewer: Viewer, after: int, upto: int, cap: int) -> list[FeedItem] | None:
    """The viewer's events after `after` up to `upto`, in order; None when there are more than
    `cap` (the client should reload instead)."""
    rows = list(
        Event.objects.filter(seq__gt=after, seq__lte=upto, type__in=FEED_TYPES)
        .order_by("seq")
        .values_list("seq", "type", "payload", "occurred_at")[: SCAN_MAX + 1]
    )
    if len(rows) > SCAN_MAX:
        return None
    seen = [r for r in rows if isinstance(r[2], dict) and viewer.sees(r[2], kind=r[1])]
    if len(seen) > cap:
        return None
    return to_items(seen)


def frame(item: FeedItem) -> str:
    return f"id: {item.seq}\nevent: feed\ndata: {item.data}\n\n"


def reset_frame(seq: int) -> str:
    return f"id: {seq}\nevent: reset\ndata: {json.dumps({'seq': seq})}\n\n"


def _nothing() -> None:
    pass


async def stream(viewer: Viewer, after: int | None, gate: _Gate | None = None) -> AsyncIterator[str]:
    # The middleware has run (the session saved): give this request's database connection back
    # now, or every open stream would hold one (PostgreSQL allows 100 by default).
    await _db(_nothing)()
    if gate is not None:
        gate.release()
    pump = get_pump()
    layer = pump.layer
    channel = await layer.new_channel("live.")
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def receive() -> None:  # never cancel layer.receive mid-wait elsewhere: a reader task
        failures = 0
        while True:
            try:
                message = await layer.receive(channel)
            except Exception as exc:  # Redis busy or away for a moment (a read timeout): go on;
                failures += 1  # what was lost is filled from the table on the next message
                if failures >= 20:
                    log.exception("live feed: the channel layer keeps failing; the stream ends")
                    inbox.put_nowait({"type": "live.failed"})
                    return
                log.warning("live feed: receiving failed (%s); retrying", exc)
                await asyncio.sleep(0.2 * failures)
                continue
            failures = 0
            if message.get("type") == MESSAGE_TYPE:
                inbox.put_nowait(message)

    pump.attach()
    await layer.group_add(GROUP, channel)  # subscribe first: nothing between replay and live is lost
    reader = asyncio.get_running_loop().create_task(receive(), name="live-feed-reader")
    cap = settings.LIVE_REPLAY_MAX
    try:
        settled = await pump.settled()
        cursor = settled if after is None else after
        yield f"retry: {RETRY_MS}\n: connected\n\n"
        if after is not None and after < settled:
            missed = await _db(replay)(viewer, after, settled, cap)
            if missed is None:
                yield reset_frame(settled)
            elif missed:
                yield "".join(frame(item) for item in missed)
            cursor = settled
        while True:
            try:
                message = await asyncio.wait_for(inbox.get(), settings.LIVE_HEARTBEAT_SECONDS)
            except TimeoutError:
                await layer.group_add(GROUP, channel)  # renew: a group membership expires
                yield ": heartbeat\n\n"
                continue
            if message["type"] != MESSAGE_TYPE:  # the reader failed: end, the client reconnects
                return
            out: list[str] = []  # one write per layer message, however many events it holds
            prev = int(message["prev"])
            if prev > cursor:  # a message was dropped on the way (a full channel): fill from the table
                missed = await _db(replay)(viewer, cursor, prev, cap)
                if missed is None:
                    out.append(reset_frame(prev))
                else:
                    out.extend(frame(item) for item in missed)
                cursor = prev
            for raw in message["items"]:
                item = FeedItem.from_wire(raw)
                if item.seq <= cursor:
                    continue
                cursor = item.seq
                if viewer.sees_keys(item.grid_id, item.department_id, item.user_id, item.kind):
                    out.append(frame(item))
            cursor = max(cursor, int(message["last"]))
            if out:
                yield "".join(out)
    finally:
        reader.cancel()
        with contextlib.suppress(BaseException):
            await reader
        with contextlib.suppress(Exception):
            await layer.group_discard(GROUP, channel)
        pump.detach()


class _Gate:
    """A place among the connections being opened, given back once (by the stream's start or,
    if the stream never starts, by the response's close)."""

    def __init__(self, semaphore: asyncio.Semaphore) -> None:
        self.semaphore = semaphore
        self.held = False

    async def acquire(self) -> None:
        await self.semaphore.acquire()
        self.held = True

    def release(self) -> None:
        if self.held:
            self.held = False
            self.semaphore.release()


@require_GET
async def feed(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    # Opening a stream takes a database connection for a moment (session, scope, the session
    # saved by its middleware); many screens reconnecting at once (a restart) would take more
    # than PostgreSQL allows. So at most LIVE_CONNECT_CONCURRENCY open at a time per process.
    gate = _Gate(get_pump().connecting)
    await gate.acquire()
    response: HttpResponse | StreamingHttpResponse | None = None
    try:
        response = await _open(request, gate)
    finally:
        if not isinstance(response, StreamingHttpResponse):
            gate.release()
    assert response is not None
    if isinstance(response, StreamingHttpResponse):
        # The stream may never start (the client gone): the response's close gives the place back.
        response._resource_closers.append(gate.release)  # type: ignore[attr-defined]
    return response


async def _open(request: HttpRequest, gate: _Gate) -> HttpResponse | StreamingHttpResponse:
    user = await request.auser()
    viewer = await _db(viewer_for)(user)
    if viewer is None:
        return JsonResponse({"detail": _("请先登录")}, status=403, json_dumps_params={"ensure_ascii": False})
    if not viewer.sees_anything:
        return JsonResponse(
            {"detail": _("你的角色没有实时动态")}, status=403, json_dumps_params={"ensure_ascii": False}
        )
    after, error = parse_after(request)
    if error is not None:
        return error
    response = StreamingHttpResponse(
        stream(viewer, after, gate), content_type="text/event-stream; charset=utf-8"
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response
