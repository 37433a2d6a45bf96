"""Browser tests: Debian's Chromium driven by Playwright against pytest-django's live server.

Playwright must not download a browser: it launches /usr/bin/chromium. Where that is missing the
tests skip (say `apt-get install chromium`), except under CI (the CI variable set), where they fail.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from tests.web.conftest import community  # noqa: F401  (the same small community as the page tests)

CHROMIUM = Path("/usr/bin/chromium")
ASSETS = Path(__file__).resolve().parents[2] / "src" / "shequ" / "web" / "static" / "build" / "app.js"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "Good-pass-2026"  # what tests/conftest.py's make_user gives every account


def _missing(what: str, fix: str) -> None:
    message = f"{what} is missing: {fix}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def audit_log_flushable(transactional_db: Any) -> Iterator[None]:
    """Let the live-server tests' database be emptied after each test.

    The audit log refuses DELETE of rows younger than 180 days (a trigger from core migration
    0002), and the flush that ends a transactional test on SQLite is a plain DELETE of every table.
    So, for the TEST database only and after the test: drop the trigger, empty the audit table,
    and create the trigger again, with the migration's own SQL. The real migration is untouched,
    and the trigger is back in place before the next test runs. (PostgreSQL flushes by TRUNCATE,
    which row triggers do not see; doing the same there is harmless.)
    """
    yield
    migration = importlib.import_module("shequ.core.migrations.0002_audit_append_only")
    postgres = connection.vendor == "postgresql"
    drop = migration.POSTGRES_REVERSE if postgres else migration.SQLITE_REVERSE
    create = migration.POSTGRES if postgres else migration.SQLITE
    with connection.cursor() as cursor:
        for sql in drop:
            cursor.execute(sql)
        cursor.execute("DELETE FROM core_auditentry")
        for sql in create:
            cursor.execute(sql)


@pytest.fixture
def chromium(audit_log_flushable: None) -> Iterator[Any]:
    """Debian's Chromium, launched by Playwright; `browser.new_context(...)` for each user."""
    if not CHROMIUM.exists():
        _missing(str(CHROMIUM), "apt-get install chromium")
    if not ASSETS.exists():
        _missing(str(ASSETS), "cd frontend && npm ci && npm run build")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (test extra)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser: Any, width: int = 1440, height: int = 900) -> Any:
    context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(15_000)
    return page


@pytest.fixture
def browser_page(live_server: Any, chromium: Any) -> Iterator[Any]:
    """A fresh Chromium page (zh-Hans, 1440×900). Data must be made before asking for it: the ORM
    is not called while Playwright's event loop runs."""
    page = new_page(chromium)
    try:
        yield page
    finally:
        page.context.close()


@pytest.fixture
def screenshot(browser_page: Any) -> Any:
    """Save a screenshot to $SHEQU_E2E_SCREENSHOTS/<name>.png when that folder is given (to look
    at the pages; screenshots are never committed; CI keeps them as artifacts)."""

    def take(name: str) -> None:
        save_screenshot(browser_page, name)

    return take


def save_screenshot(page: Any, name: str, *, full_page: bool = True) -> Path | None:
    folder = os.environ.get("SHEQU_E2E_SCREENSHOTS")
    if not folder:
        return None
    path = Path(folder) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=full_page)
    return path
