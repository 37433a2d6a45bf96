"""Fixtures of the live feed: a real uvicorn serving shequ.asgi.application on a free port (for
the streaming tests here and the browser tests), sessions for its clients, and Redis as the
channel layer.

`asgi_server` needs the transactional database (the server's threads see only committed rows),
and so `audit_log_flushable` (tests/e2e/conftest.py) to empty it afterwards. Redis is
127.0.0.1:6379 database 11 under the prefix "shequ-live-test", cleaned before and after; where it
cannot be reached the Redis tests skip, except under CI (the CI variable set), where they fail.
"""

from __future__ import annotations

import gc
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import uvicorn
from django.db import connection, connections
from django.test import Client

from tests.cases.conftest import case_departments, case_media, case_users, flow  # noqa: F401
from tests.e2e.conftest import audit_log_flushable  # noqa: F401

REDIS_URL = "redis://127.0.0.1:6379/11"
REDIS_PREFIX = "shequ-live-test"


def _missing(what: str, fix: str) -> None:
    message = f"{what} is missing: {fix}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _share_in_memory_sqlite() -> Callable[[], None]:
    """On SQLite the test database lives in memory, and its shared cache locks whole tables
    between connections (a writer gets "database table is locked", without waiting, while another
    connection reads). So, as Django's LiveServerTestCase does, every thread of the server uses
    the test's own connection while it runs. Returns the undo."""
    if connection.vendor != "sqlite" or not connection.is_in_memory_db():
        return lambda: None
    handler = connections._connections  # type: ignore[attr-defined]
    connection.inc_thread_sharing()
    connections._connections = SimpleNamespace(default=connections["default"])  # type: ignore[attr-defined]

    def undo() -> None:
        connections._connections = handler  # type: ignore[attr-defined]
        connection.dec_thread_sharing()

    return undo


def _close_server_connections() -> None:
    """The server's request threads are gone, but their database connections may linger until
    collected; on PostgreSQL they would keep the test database from being emptied or dropped."""
    gc.collect()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )


@pytest.fixture
def asgi_server(audit_log_flushable: None) -> Iterator[str]:  # noqa: F811
    """uvicorn serving the ASGI application in a thread of this process; yields the base URL."""
    from shequ.asgi import application

    shared = _share_in_memory_sqlite()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(application, lifespan="off", log_level="warning", timeout_graceful_shutdown=2)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="asgi-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        shared()
        _close_server_connections()


@pytest.fixture
def session_of() -> Callable[[Any], str]:
    """A session cookie value for a user (logged in through Django's test client)."""

    def make(user: Any) -> str:
        client = Client()
        client.force_login(user)
        return client.cookies["sessionid"].value

    return make


@pytest.fixture
def live_settings(settings: Any) -> Any:
    """Fast polling for the tests (the default is 250 ms)."""
    settings.LIVE_POLL_SECONDS = 0.05
    settings.LIVE_GAP_GRACE_SECONDS = 1.0
    return settings


def _redis_client() -> Any:
    try:
        import redis
    except ImportError:
        _missing("the redis package", "pip install -e '.[test]'")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        _missing(f"Redis at {REDIS_URL} ({exc})", "apt-get install redis-server")
    return client


def _clean(client: Any) -> None:
    keys = list(client.scan_iter(match=f"{REDIS_PREFIX}*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture
def redis_layer(live_settings: Any) -> Iterator[Any]:
    """channels-redis as the channel layer, on this module's own database and prefix."""
    client = _redis_client()
    _clean(client)
    live_settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "max_connections": 1000}],
                "prefix": REDIS_PREFIX,
                "capacity": 1000,
            },
        }
    }
    try:
        yield client
    finally:
        _clean(client)
        client.close()
