"""Benchmark the live feed's fan-out: events committed to the outbox → the pump → the channel layer
→ N real server-sent-event connections.

A uvicorn process serves shequ.asgi.application (a subprocess, so the clients do not share its
interpreter); N clients, in this process, each hold a real HTTP connection to /live/feed/ as an
administrator (who sees every event). Events are `units.position` events published through the
outbox, one transaction each, as a service would. The time runs from the first publish to the
moment the last client has received the last event; every client must have received every event
exactly once, in order. Once with the in-memory channel layer and once with Redis (database 12 of
127.0.0.1:6379, emptied of Shequ's keys afterwards).

SQLite by default (a temporary file); with SHEQU_DATABASE_URL=postgres://... a temporary database on
that server, dropped at the end.

    .venv/bin/python bench/feed.py [--clients 200] [--events 500] [--layer memory|redis]

`run_fan_out(layer, clients, events) -> dict` does one measurement in a process where Django is set
up and the database migrated (bench/onemap.py calls it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from _common import throwaway_database  # noqa: E402  (bench/ is the script's folder)

REDIS_URL = "redis://127.0.0.1:6379/12"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _session() -> tuple[int, str]:
    """An administrator and a session of theirs (the cookie value)."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from shequ.accounts.models import Role, User

    user = User.objects.filter(username="bench-feed").first()
    if user is None:
        user = User.objects.create(username="bench-feed", role=Role.ADMINISTRATOR, display_name="压测")
        user.set_unusable_password()
        user.save()
    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "shequ.accounts.backends.LockoutModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.set_expiry(3600)
    store.save()
    return user.pk, str(store.session_key)


class _Client:
    """One SSE connection: h11 undoes the chunked encoding; frames are counted by their `id:`."""

    def __init__(self) -> None:
        self.seqs: list[int] = []
        self.connected = asyncio.Event()
        self.buffer = b""  # bytes: a read may end inside a multi-byte character

    async def run(self, port: int, session: str, stop: asyncio.Event) -> None:
        import h11

        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        conn = h11.Connection(h11.CLIENT)
        request = h11.Request(
            method="GET",
            target="/live/feed/",
            headers=[
                ("Host", f"127.0.0.1:{port}"),
                ("Cookie", f"sessionid={session}"),
                ("Accept", "text/event-stream"),
            ],
        )
        writer.write(conn.send(request) + conn.send(h11.EndOfMessage()))
        try:
            while not stop.is_set():
                data = await reader.read(65536)
                if not data:
                    return
                conn.receive_data(data)
                while True:
                    event = conn.next_event()
                    if event is h11.NEED_DATA or isinstance(event, h11.EndOfMessage):
                        break
                    if isinstance(event, h11.Response) and event.status_code != 200:
                        raise RuntimeError(f"feed answered {event.status_code}")
                    if isinstance(event, h11.Data):
                        self._feed(bytes(event.data))
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _feed(self, data: bytes) -> None:
        self.buffer += data
        *frames, self.buffer = self.buffer.split(b"\n\n")
        for frame in frames:
            if b": connected" in frame:
                self.connected.set()
            if frame.startswith(b"id: "):
                self.seqs.append(int(frame[4 : frame.index(b"\n")]))


def _publish(n: int, user_id: int, burst: bool = True) -> dict[str, Any]:
    """n feed events: committed together (a burst: an import, the deadline sweep), or one
    transaction each (as single acts publish them); returns their seqs, and the wall-clock times
    of the first publish and of the last commit."""
    from django.db import transaction

    from shequ.core.outbox import publish
    from shequ.units.events import UnitPosition

    seqs = []
    start = time.time()
    outer = transaction.atomic() if burst else contextlib.nullcontext()
    with outer:
        for i in range(n):
            with transaction.atomic():
                row = publish(
                    UnitPosition(
                        user_id=user_id,
                        grid_id=None,
                        department_id=None,
                        lon=103.6 + i * 1e-5,
                        lat=36.5,
                        status="on_duty",
                        at="2026-05-01T09:00:00+08:00",
                    )
                )
            seqs.append(row.seq)
    committed = time.time()
    from django.db import connection

    connection.close()
    return {"seqs": seqs, "start": start, "committed": committed}


def _child_env() -> dict[str, str]:
    """This process's settings for a child: the same database, secret key (sessions) and files."""
    from django.conf import settings

    env = dict(os.environ, SHEQU_VAR_DIR=str(settings.VAR_DIR), PYTHONPATH=str(ROOT / "src"))
    env["DJANGO_SETTINGS_MODULE"] = "shequ.settings"
    env.setdefault("SHEQU_LOG_LEVEL", "WARNING")
    return env


def _publish_elsewhere(n: int, user_id: int, burst: bool) -> dict[str, Any]:
    import json

    out = subprocess.run(
        [sys.executable, __file__, "--publish", str(n), "--user-id", str(user_id)]
        + ([] if burst else ["--trickle"]),
        env=_child_env(),
        capture_output=True,
        check=True,
        text=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


async def _measure(
    port: int, session: str, user_id: int, clients: int, events: int, burst: bool
) -> dict[str, Any]:
    stop = asyncio.Event()
    crowd = [_Client() for _ in range(clients)]
    tasks = [asyncio.create_task(c.run(port, session, stop)) for c in crowd]
    await asyncio.wait_for(asyncio.gather(*(c.connected.wait() for c in crowd)), 60)
    loop = asyncio.get_running_loop()
    started = time.time()
    # Published by another process, as a web host or the task worker would: not slowed by this
    # process's 200 clients.
    publishing = loop.run_in_executor(None, _publish_elsewhere, events, user_id, burst)
    seqs: list[int] = []
    published: dict[str, Any] = {"start": started, "committed": started}
    deadline = started + 180
    while time.time() < deadline:
        await asyncio.sleep(0.005)
        if publishing.done() and not seqs:
            published = publishing.result()
            seqs = published["seqs"]
        if seqs and all(c.seqs and c.seqs[-1] >= seqs[-1] for c in crowd):
            break
    done = time.time()
    elapsed = done - published["start"]  # from the first publish (the child's own start-up left out)
    stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    complete = bool(seqs) and all(c.seqs == seqs for c in crowd)
    short = [c for c in crowd if c.seqs != seqs]
    if seqs and short:
        c = short[0]
        missing = sorted(set(seqs) - set(c.seqs))
        print(
            f"  {len(short)} clients incomplete; e.g. got {len(c.seqs)}, "
            f"missing {missing[:5]}..{missing[-3:]}"
        )
    return {
        "clients": clients,
        "events": events,
        "mode": "burst" if burst else "trickle",
        "seconds": elapsed,
        "publish_seconds": published["committed"] - published["start"],
        "lag_seconds": done - published["committed"],
        "events_per_s": events / elapsed,
        "deliveries_per_s": events * clients / elapsed,
        "complete": complete,
    }


def run_fan_out(layer: str, clients: int, events: int, burst: bool = True) -> dict[str, Any]:
    """Serve the feed from a uvicorn subprocess with this channel layer ("memory" or "redis"),
    connect `clients` SSE clients, publish `events` outbox events (in one transaction, or with
    `burst=False` one transaction each); returns the figures."""
    if layer not in {"memory", "redis"}:
        raise ValueError(f"layer must be memory or redis, not {layer!r}")
    user_id, session = _session()
    port = _free_port()
    env = dict(_child_env(), SHEQU_CHANNEL_LAYER="memory" if layer == "memory" else REDIS_URL)
    redis_client = None
    if layer == "redis":
        import redis

        redis_client = redis.Redis.from_url(REDIS_URL)
        redis_client.ping()
        _clean_redis(redis_client)
    uvicorn_args = ["--host", "127.0.0.1", "--port", str(port), "--lifespan", "off", "--log-level", "warning"]
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "shequ.asgi:application", *uvicorn_args, "--no-access-log"],
        env=env,
        cwd=str(ROOT),
    )
    try:
        _wait_for(port, server)
        result = asyncio.run(_measure(port, session, user_id, clients, events, burst))
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
        if redis_client is not None:
            _clean_redis(redis_client)
            redis_client.close()
    return {"layer": layer, **result}


def _clean_redis(client: Any) -> None:
    keys = list(client.scan_iter(match="shequ*", count=1000))
    if keys:
        client.delete(*keys)


def _wait_for(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("uvicorn exited")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError("uvicorn did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--layer", choices=["memory", "redis"], help="one layer only (default: both)")
    parser.add_argument("--publish", type=int, help=argparse.SUPPRESS)  # the publishing process
    parser.add_argument("--user-id", type=int, help=argparse.SUPPRESS)
    parser.add_argument(
        "--trickle", action="store_true", help="one transaction per event (default: one for all)"
    )
    args = parser.parse_args()
    if args.publish:
        import json

        import django

        django.setup()
        print(json.dumps(_publish(args.publish, args.user_id, burst=not args.trickle)))
        return

    os.environ["SHEQU_VAR_DIR"] = tempfile.mkdtemp(prefix="shequ-bench-")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shequ.settings")
    os.environ["SHEQU_LOG_LEVEL"] = "WARNING"
    os.environ.setdefault("SHEQU_DEBUG", "0")
    label, cleanup = throwaway_database("bench_feed")
    import django

    django.setup()
    from django.core.management import call_command

    try:
        call_command("migrate", verbosity=0)
        how = "one transaction each" if args.trickle else "committed in one transaction"
        print(f"{label}: {args.clients} SSE clients, {args.events} units.position events, {how}")
        print(
            f"{'layer':8} {'publish s':>9} {'seconds':>8} {'lag s':>6} {'events/s':>9} "
            f"{'deliveries/s':>13} {'complete':>9}"
        )
        rows = []
        for layer in [args.layer] if args.layer else ["memory", "redis"]:
            r = run_fan_out(layer, args.clients, args.events, burst=not args.trickle)
            rows.append(r)
            print(
                f"{layer:8} {r['publish_seconds']:9.2f} {r['seconds']:8.2f} {r['lag_seconds']:6.2f} "
                f"{r['events_per_s']:9.0f} {r['deliveries_per_s']:13.0f} "
                f"{'yes' if r['complete'] else 'NO':>9}"
            )
        if len(rows) == 2:
            print(f"redis / memory events/s: {rows[1]['events_per_s'] / rows[0]['events_per_s']:.2f}")
    finally:
        cleanup()


if __name__ == "__main__":
    main()
