"""A guard in front of Django for a Content-Type whose charset names a codec that is not a text
encoding (`rot13`, `hex`, `base64`...): Django 6.1 builds its request with that codec and fails
decoding the query string, a 500 before any middleware runs. Such a request is answered 400 here.
"""

from __future__ import annotations

import codecs
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from email.message import Message
from typing import Any

BODY = "请求的 Content-Type 字符集无效 (Unsupported charset in Content-Type)".encode()


# Query strings and form bodies of the shapes clients send: a codec must decode them or fail the
# way Django expects (UnicodeDecodeError, after which it falls back to ISO-8859-1).
SAMPLES = (b"a=b", b"q=%E4%B8%AD&x=1.2.3&y=", b"a..b=" + b"x" * 100)


def bad_charset(content_type: str) -> bool:
    """True when the header's charset is a codec Python knows that cannot decode a query string
    (not a text encoding, or one that fails on ordinary input otherwise than Django expects)."""
    if "charset" not in content_type.lower():
        return False
    message = Message()
    message["content-type"] = content_type
    charset = message.get_param("charset")
    if not isinstance(charset, str):
        return False
    try:
        codecs.lookup(charset)
    except LookupError:
        return False  # unknown: Django ignores it and decodes as UTF-8
    for sample in SAMPLES:
        try:
            sample.decode(charset)
        except UnicodeDecodeError:
            continue
        except Exception:  # LookupError: no text encoding
            return True
    return False


def guard_wsgi(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if bad_charset(environ.get("CONTENT_TYPE", "")):
            start_response(
                "400 Bad Request",
                [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(BODY)))],
            )
            return [BODY]
        return app(environ, start_response)

    return guarded


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def guard_asgi(app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") == "http":
            content_type = next(
                (v.decode("latin-1") for k, v in scope.get("headers", []) if k.lower() == b"content-type"), ""
            )
            if bad_charset(content_type):
                await send(
                    {
                        "type": "http.response.start",
                        "status": 400,
                        "headers": [(b"content-type", b"text/plain; charset=utf-8")],
                    }
                )
                await send({"type": "http.response.body", "body": BODY})
                return
        await app(scope, receive, send)

    return guarded
