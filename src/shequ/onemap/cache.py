"""Caching of the case layers with correct invalidation (docs/onemap.md, "Caching").

An answer is cached under (layer, viewer scope, data version, parameters). The version is one
counter in the cache, bumped by every case event (handlers.py) and grid change: a new version makes
every older entry unreachable at once, however many viewers and viewports were cached. Entries also
expire after TTL seconds, since a case turns overdue by the clock alone between two sweeps.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from django.core.cache import cache

VERSION_KEY = "onemap:version"
TTL = 60  # seconds


def version() -> int:
    value = cache.get(VERSION_KEY)
    if value is None:
        cache.add(VERSION_KEY, 1, timeout=None)
        value = cache.get(VERSION_KEY, 1)
    return int(value)


def bump() -> int:
    """A new data version: every cached layer answer is stale from now on."""
    try:
        return int(cache.incr(VERSION_KEY))
    except ValueError:  # no counter yet (a fresh cache): start one past any that might have been
        cache.add(VERSION_KEY, 2, timeout=None)
        return version()


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def cached_body(
    layer: str, scope: str, params: dict[str, Any], build: Callable[[], Any]
) -> tuple[bytes, str]:
    """The JSON body of a layer answer and its ETag, from the cache or built now."""
    raw = json.dumps(sorted(params.items()), default=str, ensure_ascii=False)
    digest = hashlib.sha256(raw.encode()).hexdigest()[:24]
    key = f"onemap:{layer}:{version()}:{scope}:{digest}"
    hit = cache.get(key)
    if hit is not None:
        return hit[0], hit[1]
    body = json.dumps(build(), ensure_ascii=False, separators=(",", ":"), default=str).encode()
    tag = etag_of(body)
    cache.set(key, (body, tag), timeout=TTL)
    return body, tag
