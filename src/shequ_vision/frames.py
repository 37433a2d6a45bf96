"""Frame sources: video files, RTSP / HTTP streams and HTTP snapshot URLs, sampled at a rate.

A camera's stream runs at 20-30 frames a second; the rules need one every second or ten. Every
frame of a compressed stream must still be decoded far enough to keep the decoder in step
(`grab()`), but only sampled frames are converted to images (`retrieve()`), which saves the
colour conversion and the copy. Snapshot URLs (the JPEG most cameras serve at a fixed address)
are simply polled at the sample rate: the cheapest way to watch a camera once every ten seconds.
"""

from __future__ import annotations

import base64
import os
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import cv2
import numpy as np

# How long to wait for a camera to answer before calling it broken (seconds).
OPEN_TIMEOUT = 8.0
READ_TIMEOUT = 8.0


@dataclass
class Frame:
    index: int  # position in the source (decoded frames, or snapshot polls)
    t: float  # seconds since the source started (stream time for files)
    wall: datetime | None  # when it was captured, for live sources (and files played in real time)
    image: np.ndarray  # BGR uint8


class SourceError(OSError):
    """The source cannot be opened, or it broke while reading."""


_USERINFO = re.compile(r"(?<=://)[^/@\s]*@")


def mask_url(url: str) -> str:
    """The URL with any user:password@ replaced by ***@, for messages and logs."""
    return _USERINFO.sub("***@", url)


def is_snapshot_url(url: str) -> bool:
    if url.startswith("snapshot:"):
        return True
    if not url.lower().startswith(("http://", "https://")):
        return False
    parts = urlsplit(url)
    return parts.path.lower().endswith((".jpg", ".jpeg")) or "action=snapshot" in parts.query.lower()


class FrameSource(Iterator[Frame]):
    """An opened source: iterate for sampled frames. `decoded` counts every frame decoded (or
    fetched), `errors` the frames that failed to decode, for the camera's health and metrics."""

    decoded: int = 0
    errors: int = 0
    fps: float = 0.0  # the source's nominal frame rate, 0 when unknown
    live: bool = True

    def __next__(self) -> Frame:  # pragma: no cover - overridden
        raise StopIteration

    def close(self) -> None:
        pass

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _CaptureSource(FrameSource):
    def __init__(
        self, url: str, *, sample_fps: float | None, realtime: bool, loop: bool, stop: threading.Event | None
    ) -> None:
        self.url = url
        self.stop = stop or threading.Event()
        target, self.live = _capture_target(url)
        if not self.live:
            if not Path(target).is_file():
                raise SourceError(f"无法打开视频源: 文件不存在 {target}")
        elif target.startswith("rtsp") and "OPENCV_FFMPEG_CAPTURE_OPTIONS" not in os.environ:
            # UDP loses packets on busy networks and smears the picture; cameras all speak TCP.
            os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = "rtsp_transport;tcp"
        self.target = target
        self.cap = self._open()
        fps = self.cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and 0 < fps < 1000 else 0.0
        self.period = 1.0 / sample_fps if sample_fps else 0.0
        self.realtime = realtime
        self.loop = loop and not self.live
        self.index = -1
        self.next_t = 0.0
        self.offset = 0.0  # stream time of earlier loops of a file
        self.start = time.monotonic()
        self.started_wall = datetime.now(UTC)

    def _open(self) -> cv2.VideoCapture:
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            int(OPEN_TIMEOUT * 1000),
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            int(READ_TIMEOUT * 1000),
        ]
        cap = cv2.VideoCapture(self.target, cv2.CAP_ANY, params)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"无法打开视频源 {mask_url(self.url)}")
        return cap

    def _stream_time(self, index: int) -> float:
        if not self.live and self.fps:
            return self.offset + index / self.fps
        return time.monotonic() - self.start

    def __next__(self) -> Frame:
        while True:
            if not self.cap.grab():
                if self.live:
                    raise SourceError(f"视频流中断 {mask_url(self.url)}")
                if not self.loop or self.index < 0:
                    raise StopIteration
                self.offset = self._stream_time(self.index + 1)
                self.cap.release()
                self.cap = self._open()
                self.index = -1
                continue
            self.index += 1
            self.decoded += 1
            t = self._stream_time(self.index)
            if self.realtime and not self.live:
                # Play the file at its own speed, as a camera would deliver it.
                delay = self.start + t - time.monotonic()
                if delay > 0 and self.stop.wait(delay):
                    raise StopIteration
            if self.period and t + 1e-6 < self.next_t:
                continue
            ok, image = self.cap.retrieve()
            if not ok or image is None:
                self.errors += 1
                continue
            if self.period:
                while self.next_t <= t + 1e-6:
                    self.next_t += self.period
            wall = datetime.now(UTC) if (self.live or self.realtime) else None
            return Frame(self.index if not self.loop else self.decoded - 1, t, wall, image)

    def close(self) -> None:
        self.cap.release()


def _capture_target(url: str) -> tuple[str, bool]:
    """(what to hand to VideoCapture, whether it is a live stream)."""
    lowered = url.lower()
    if lowered.startswith("file://"):
        return unquote(urlsplit(url).path), False
    if re.match(r"^[a-z][a-z0-9+.-]*://", lowered):
        return url, True
    return url, False


class _SnapshotSource(FrameSource):
    """Polls a JPEG URL at the sample rate (1 a second when none is given)."""

    def __init__(self, url: str, *, sample_fps: float | None, stop: threading.Event | None) -> None:
        self.url = url
        self.stop = stop or threading.Event()
        raw = url.removeprefix("snapshot:")
        parts = urlsplit(raw)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SourceError(f"快照地址无效 {mask_url(url)}")
        headers = {"User-Agent": "shequ-vision"}
        if parts.username is not None:
            # Credentials travel in the header, never in the URL that urllib might log.
            cred = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            headers["Authorization"] = "Basic " + base64.b64encode(cred.encode()).decode()
            netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
            raw = urlunsplit(parts._replace(netloc=netloc))
        self.request = urllib.request.Request(raw, headers=headers)  # noqa: S310 - http(s) checked above
        self.period = 1.0 / (sample_fps or 1.0)
        self.fps = sample_fps or 1.0
        self.index = -1
        self.start = time.monotonic()
        self.next_at = self.start
        self.first: np.ndarray | None = self._fetch()  # fail at open time, as a stream would

    def _fetch(self) -> np.ndarray:
        try:
            with urllib.request.urlopen(self.request, timeout=READ_TIMEOUT) as resp:  # noqa: S310
                data = resp.read()
        except urllib.error.HTTPError as exc:
            raise SourceError(f"快照请求失败 HTTP {exc.code} {mask_url(self.url)}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise SourceError(f"快照请求失败 {mask_url(self.url)}: {mask_url(str(reason))}") from None
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            self.errors += 1
            raise SourceError(f"快照不是有效图像 {mask_url(self.url)}")
        self.decoded += 1
        return image

    def __next__(self) -> Frame:
        if self.first is not None:
            image, self.first = self.first, None
        else:
            delay = self.next_at - time.monotonic()
            if delay > 0 and self.stop.wait(delay):
                raise StopIteration
            image = self._fetch()
        self.index += 1
        now = time.monotonic()
        self.next_at = max(self.next_at + self.period, now)
        return Frame(self.index, now - self.start, datetime.now(UTC), image)


def open_source(
    url: str,
    *,
    sample_fps: float | None = None,
    realtime: bool = False,
    loop: bool = False,
    stop: threading.Event | None = None,
) -> FrameSource:
    """Open a source and return an iterator of frames sampled at `sample_fps` (None: every frame).

    `url`: a file path or file:// URL (GIF too), rtsp://, http(s):// video (MJPEG, HLS...), or a
    snapshot URL (`snapshot:` prefix, a URL ending .jpg/.jpeg, or `?action=snapshot`).
    `realtime`: play a file at its own speed (to stand in for a live camera); `loop`: start a file
    again at its end; `stop`: an event that ends the waits between frames at once (a camera
    thread being stopped must not sleep out a 10 s snapshot interval).
    Raises SourceError now when the source cannot be opened, and from the iterator when a live
    source breaks; a file simply ends (StopIteration).
    """
    if sample_fps is not None and not sample_fps > 0:
        raise ValueError("sample_fps must be positive")
    if is_snapshot_url(url):
        return _SnapshotSource(url, sample_fps=sample_fps, stop=stop)
    return _CaptureSource(url, sample_fps=sample_fps, realtime=realtime, loop=loop, stop=stop)
