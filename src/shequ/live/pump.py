"""The pump: new outbox rows → feed messages → the channel layer's group "live.feed".

Any process may commit events (web, task worker, commands), so the pump reads the outbox table
itself every `LIVE_POLL_SECONDS` instead of relying on in-process handlers. It sends in `seq`
order and never skips a row that is merely late: a lower seq may commit after a higher one, so a
missing seq below the newest row holds the rows after it back until it appears, or until
`LIVE_GAP_GRACE_SECONDS` have passed (a rolled-back transaction leaves a hole for ever).

Each message on the layer carries the seq range it settles (`prev` → `last`): a stream that finds
`prev` beyond what it has seen lost a message (a full channel drops them) and fills the hole from
the table. With the in-memory layer each ASGI process runs its own pump, started by its first
feed connection; with Redis one pump in the cluster holds a lease and the others only consume
(docs/live.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
import uuid
import weakref
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from django.db import connection
from django.db.models import Max
from django.utils import timezone

from shequ.core.models import Event
from shequ.live.messages import FeedItem, to_items

log = logging.getLogger(__name__)

GROUP = "live.feed"
MESSAGE_TYPE = "live.batch"
READ_BATCH = 1000  # rows read per tick at most
SEND_BATCH = 100  # feed items per layer message
IDLE_STOP_SECONDS = 30.0  # a pump with no client in its process stops after this
LEASE_MS = 15_000  # long enough that a burst keeping the loop busy does not lose it
LEASE_RENEW_SECONDS = 2.0
SYNC_SECONDS = 5.0  # an empty message this often when idle: a stream that lost one catches up
_RENEW = """
if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("pexpire", KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) end
return 0
"""


class Cursor:
    """The settled high-water mark: every seq up to `seq` was sent or is known absent."""

    def __init__(self, seq: int, grace: float) -> None:
        self.seq = seq
        self.grace = grace
        self._gap_seen: dict[int, float] = {}  # first missing seq → when the hole was first seen

    def advance(self, seqs: Sequence[int], now: float) -> list[int]:
        """Take the seqs found above the mark (ascending); return those to send now, in order. A
        hole holds what follows it until it fills or its grace runs out."""
        out: list[int] = []
        for seq in seqs:
            if seq <= self.seq:
                continue
            expected = self.seq + 1
            if seq > expected:
                since = self._gap_seen.setdefault(expected, now)
                if now - since < self.grace:
                    break
                log.info("live feed: seq %s..%s never committed, passed over", expected, seq - 1)
            out.append(seq)
            self.seq = seq
        self._gap_seen = {k: v for k, v in self._gap_seen.items() if k > self.seq}
        return out


def initial_seq(grace: float) -> int:
    """Where a fresh pump starts: after the rows older than the grace window (newer ones may
    still have holes below them, so the pump reads them itself)."""
    before = timezone.now() - dt.timedelta(seconds=grace)
    old = Event.objects.filter(occurred_at__lte=before).aggregate(m=Max("seq"))["m"]
    if old is not None:
        return int(old)
    first = Event.objects.order_by("seq").values_list("seq", flat=True).first()
    return int(first) - 1 if first is not None else 0


def collect(cursor: Cursor) -> list[FeedItem]:
    """Read the rows above the cursor, advance it, and turn what may be sent into feed items."""
    rows = list(
        Event.objects.filter(seq__gt=cursor.seq)
        .order_by("seq")
        .values_list("seq", "type", "payload", "occurred_at")[:READ_BATCH]
    )
    seq, gaps = cursor.seq, dict(cursor._gap_seen)
    ready = set(cursor.advance([r[0] for r in rows], time.monotonic()))
    try:
        return to_items(r for r in rows if r[0] in ready)
    except BaseException:  # nothing was sent: read the same rows again next time
        cursor.seq, cursor._gap_seen = seq, gaps
        raise


def batches(items: list[FeedItem], prev: int, last: int) -> list[dict[str, Any]]:
    """Layer messages for these items, chained: each one's `prev` is the one before's `last`."""
    out = []
    for i in range(0, len(items), SEND_BATCH):
        chunk = items[i : i + SEND_BATCH]
        end = last if i + SEND_BATCH >= len(items) else chunk[-1].seq
        out.append({"type": MESSAGE_TYPE, "prev": prev, "last": end, "items": [it.as_wire() for it in chunk]})
        prev = end
    return out


def _redis_config() -> tuple[str, str]:
    layers: dict[str, Any] = settings.CHANNEL_LAYERS
    config: dict[str, Any] = layers["default"].get("CONFIG", {})
    host = config["hosts"][0]
    address = host["address"] if isinstance(host, dict) else host
    return str(address), str(config.get("prefix", "asgi"))


class Pump:
    """One per event loop (an ASGI process has one). Streams `attach()` and ask `settled()`."""

    def __init__(self) -> None:
        self.layer = get_channel_layer()
        self.shared = not isinstance(self.layer, InMemoryChannelLayer)
        self.cursor: Cursor | None = None
        self.sent_end = 0
        self.clients = 0
        self.holder = False
        self._idle_since = time.monotonic()
        self._sent_at = 0.0
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._redis: Any = None
        self._executor: ThreadPoolExecutor | None = None
        self._me = uuid.uuid4().hex
        self.connecting = asyncio.Semaphore(settings.LIVE_CONNECT_CONCURRENCY)  # views.feed
        if self.shared:
            address, prefix = _redis_config()
            self._lease_key = f"{prefix}:live:pump:lease"
            self._seq_key = f"{prefix}:live:pump:seq"
            self._address = address

    # --- streams ------------------------------------------------------------------------------

    def attach(self) -> None:
        self.clients += 1
        if self._task is None or self._task.done():
            self._ready = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run(), name="live-pump")

    def detach(self) -> None:
        self.clients -= 1
        if self.clients <= 0:
            self._idle_since = time.monotonic()

    async def settled(self, timeout: float = 10.0) -> int:
        """The seq up to which everything was sent on the layer (or is known absent): a stream
        replays up to here from the table and takes what follows from the layer."""
        if not self.shared:
            await asyncio.wait_for(self._ready.wait(), timeout)
            assert self.cursor is not None
            return self.cursor.seq
        deadline = time.monotonic() + timeout
        while True:  # the lease holder (maybe this process's pump) writes it before its first send
            raw = await self._client().get(self._seq_key)
            if raw is not None:
                return int(raw)
            if time.monotonic() > deadline:
                raise TimeoutError("no live-feed pump holds the lease")
            await asyncio.sleep(0.05)

    # --- the loop -----------------------------------------------------------------------------

    def _client(self) -> Any:
        if self._redis is None:
            import redis.asyncio

            # A blocking pool: many streams opening at once wait for a connection; redis-py's
            # default pool would refuse the 101st at once (MaxConnectionsError).
            pool = redis.asyncio.BlockingConnectionPool.from_url(
                self._address, max_connections=20, timeout=10
            )
            self._redis = redis.asyncio.Redis(connection_pool=pool)
        return self._redis

    async def _db(self, fn: Any, *args: Any) -> Any:
        if self._executor is None:  # one thread, so the pump keeps one database connection
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="live-pump")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def _run(self) -> None:
        poll = settings.LIVE_POLL_SECONDS
        grace = settings.LIVE_GAP_GRACE_SECONDS
        renewed = 0.0
        try:
            while self.clients > 0 or time.monotonic() - self._idle_since < IDLE_STOP_SECONDS:
                try:
                    if self.shared:
                        renewed = await self._lease(renewed)
                        if not self.holder:
                            await asyncio.sleep(LEASE_RENEW_SECONDS)
                            continue
                    if self.cursor is None:
                        start = await self._start_seq(grace)
                        self.cursor = Cursor(start, grace)
                        self.sent_end = start
                        if self.shared:
                            await self._client().set(self._seq_key, start)
                        self._ready.set()
                        await self._sync()  # streams behind a lost holder's mark fill from the table
                    await self._tick()
                    if time.monotonic() - self._sent_at > SYNC_SECONDS:
                        await self._sync()
                except asyncio.CancelledError:
                    raise
                except Exception:  # the database or Redis away for a moment: try again next tick
                    log.exception("live feed pump failed; retrying")
                    with contextlib.suppress(Exception):
                        await self._db(connection.close)
                    self.cursor = None  # start again from the shared (or a fresh) mark
                await asyncio.sleep(poll)
        finally:
            await self._stop()

    async def _start_seq(self, grace: float) -> int:
        if self.shared:
            raw = await self._client().get(self._seq_key)
            if raw is not None:  # take over where the last lease holder stopped
                return int(raw)
        return int(await self._db(initial_seq, grace))

    async def _lease(self, renewed: float) -> float:
        now = time.monotonic()
        client = self._client()
        if self.holder:
            if now - renewed < LEASE_RENEW_SECONDS:
                return renewed
            if await client.eval(_RENEW, 1, self._lease_key, self._me, LEASE_MS):
                return now
            log.warning("live feed pump lost its lease (last renewed %.1f s ago)", now - renewed)
            self.holder = False
            self.cursor = None
            return renewed
        if await client.set(self._lease_key, self._me, nx=True, px=LEASE_MS):
            self.holder = True
            self.cursor = None  # start from the shared mark, not from what this process knew
            return now
        return renewed

    async def _tick(self) -> None:
        assert self.cursor is not None
        before = self.cursor.seq
        items = await self._db(collect, self.cursor)
        if self.cursor.seq == before:
            return
        if self.shared:  # the mark first, then the send: a stream that reads the mark is never behind
            await self._client().set(self._seq_key, self.cursor.seq)
        if items:
            for message in batches(items, self.sent_end, self.cursor.seq):
                await self.layer.group_send(GROUP, message)
            self.sent_end = self.cursor.seq
            self._sent_at = time.monotonic()

    async def _sync(self) -> None:
        await self.layer.group_send(
            GROUP, {"type": MESSAGE_TYPE, "prev": self.sent_end, "last": self.sent_end, "items": []}
        )
        self._sent_at = time.monotonic()

    async def _stop(self) -> None:
        if self.shared and self.holder:
            with contextlib.suppress(Exception):
                await self._client().eval(_RELEASE, 1, self._lease_key, self._me)
        self.holder = False
        self.cursor = None
        if self._redis is not None:
            with contextlib.suppress(Exception):
                await self._redis.aclose()
            self._redis = None
        if self._executor is not None:
            with contextlib.suppress(Exception):
                await self._db(connection.close)
            self._executor.shutdown(wait=False)
            self._executor = None


_pumps: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Pump] = weakref.WeakKeyDictionary()


def get_pump() -> Pump:
    """This event loop's pump (made on first use; the channel layer is read from the settings)."""
    loop = asyncio.get_running_loop()
    pump = _pumps.get(loop)
    if pump is None or pump.layer is not get_channel_layer():
        pump = _pumps[loop] = Pump()
    return pump
