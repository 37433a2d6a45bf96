"""What the benchmarks share: a throwaway database for one run."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit, urlunsplit


def throwaway_database(tag: str = "bench") -> tuple[str, Any]:
    """Point SHEQU_DATABASE_URL at a fresh database; returns (label, cleanup). SQLite by default (a
    file in SHEQU_VAR_DIR); with SHEQU_DATABASE_URL=postgres://... a new database on that server,
    dropped by the cleanup."""
    url = os.environ.get("SHEQU_DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        os.environ.pop("SHEQU_DATABASE_URL", None)  # settings' default: a SQLite file in VAR_DIR
        return "SQLite", lambda: None
    import psycopg

    name = f"shequ_{tag}_{os.getpid()}"
    parts = urlsplit(url)
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    os.environ["SHEQU_DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{name}"))

    def drop() -> None:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return "PostgreSQL", drop
