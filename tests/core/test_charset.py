"""A Content-Type charset naming a codec that is no text encoding was a 500 inside Django's request
construction; the WSGI and ASGI entry points answer 400 (the real applications, not the test client)."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import pytest

from shequ.core.charset import bad_charset


@pytest.mark.parametrize("charset", ["rot13", "hex", "base64", "zlib", "uu"])
def test_codecs_that_are_no_text_encoding_are_refused(charset: str) -> None:
    assert bad_charset(f"text/plain; charset={charset}")
    assert bad_charset(f'multipart/form-data; boundary=x; charset="{charset}"')


@pytest.mark.parametrize(
    "header",
    [
        "",
        "application/json",
        "text/plain; charset=utf-8",
        "text/plain; charset=gbk",
        "text/plain; charset=no-such-codec",
    ],
)
def test_text_and_unknown_charsets_pass(header: str) -> None:
    assert not bad_charset(header)


@pytest.mark.django_db
def test_wsgi_answers_400() -> None:
    from shequ.wsgi import application

    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        seen["status"] = status

    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/api/cases/",
        "QUERY_STRING": "q=1",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.url_scheme": "http",
        "CONTENT_TYPE": "text/plain; charset=rot13",
        "wsgi.errors": io.StringIO(),
    }
    body = b"".join(application(environ, start_response))
    assert seen["status"].startswith("400") and b"charset" in body
    environ["CONTENT_TYPE"] = "text/plain"
    environ["wsgi.input"] = io.BytesIO(b"")
    b"".join(application(environ, start_response))
    assert not seen["status"].startswith(("400", "500"))


def test_asgi_answers_400() -> None:
    from shequ.asgi import application

    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/api/cases/",
        "query_string": b"q=1",
        "headers": [(b"content-type", b"text/plain; charset=hex")],
    }
    asyncio.run(application(scope, receive, send))
    assert sent[0]["status"] == 400
