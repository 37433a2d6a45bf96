"""A small server-sent-events client over http.client, for the streaming tests: a thread reads
the stream and queues each event; `close()` drops the connection as a browser tab would."""

from __future__ import annotations

import contextlib
import http.client
import json
import queue
import socket
import threading
import time
from typing import Any
from urllib.parse import urlsplit


class SSE:
    def __init__(
        self,
        base_url: str,
        session: str | None,
        *,
        path: str = "/live/feed/",
        last_event_id: str | None = None,
    ) -> None:
        url = urlsplit(base_url)
        self.conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)
        headers = {"Accept": "text/event-stream"}
        if session:
            headers["Cookie"] = f"sessionid={session}"
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        self.conn.request("GET", path, headers=headers)
        self.response = self.conn.getresponse()
        self.status = self.response.status
        self.headers = dict(self.response.getheaders())
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.comments: list[str] = []
        self._closed = False
        if self.status == 200:
            self._thread = threading.Thread(target=self._read, daemon=True)
            self._thread.start()
        else:
            self.body = self.response.read()

    def _read(self) -> None:
        event: dict[str, Any] = {}
        try:
            while True:
                line = self.response.readline()
                if not line:
                    return
                text = line.decode("utf-8").rstrip("\n")
                if text == "":
                    if "data" in event:
                        self.events.put(event)
                    event = {}
                elif text.startswith(":"):
                    self.comments.append(text[1:].strip())
                else:
                    key, _, value = text.partition(":")
                    event[key] = value[1:] if value.startswith(" ") else value
        except Exception:  # the connection closed under the reader (close() or the server)
            return

    def take(self, n: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The next n events (each {"id", "event", "data" (parsed for feed events)})."""
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"got {len(out)} of {n} events in {timeout} s: {out}")
            try:
                event = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if event.get("event") == "feed":
                event["data"] = json.loads(event["data"])
            out.append(event)
        return out

    def quiet(self, seconds: float) -> list[dict[str, Any]]:
        """Whatever arrives within `seconds` (expected: nothing)."""
        time.sleep(seconds)
        out = []
        while not self.events.empty():
            out.append(self.events.get_nowait())
        return out

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        sock = self.conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(Exception):
            self.conn.close()
