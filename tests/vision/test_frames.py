"""Frame sources on real media: sampling by stream time, GIFs, looping and real-time playback of
files, snapshot URLs with credentials, HTTP video, and the errors (never showing a password)."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest

from shequ_vision.frames import SourceError, is_snapshot_url, mask_url, open_source

from .conftest import MediaServer, jpeg_of


def test_file_sampled_at_one_frame_a_second_decodes_every_frame(one_by_one: Path) -> None:
    src = open_source(str(one_by_one), sample_fps=1.0)
    frames = list(src)
    assert src.fps == 10 and src.decoded == 1394 and not src.live
    assert len(frames) == 140  # t = 0, 1, ..., 139 s of a 139.4 s clip
    assert [f.index for f in frames[:4]] == [0, 10, 20, 30]
    assert [f.t for f in frames[:3]] == pytest.approx([0.0, 1.0, 2.0])
    assert frames[0].image.shape == (432, 768, 3) and frames[0].wall is None


def test_sample_rate_that_does_not_divide_the_frame_rate(bikes: Path) -> None:
    frames = list(open_source(f"file://{bikes}", sample_fps=3.0))  # 25 fps, a frame every 1/3 s
    assert len(frames) == 30
    gaps = [b.t - a.t for a, b in itertools.pairwise(frames)]
    assert all(0.3 <= g <= 0.37 for g in gaps)


def test_gif_decodes(people_gif: Path) -> None:
    frames = list(open_source(str(people_gif), sample_fps=None))
    assert len(frames) == 23 and frames[0].image.shape == (270, 480, 3)
    assert frames[5].image.mean() != frames[15].image.mean()


def test_realtime_playback_and_looping(bikes: Path) -> None:
    src = open_source(str(bikes), sample_fps=5.0, realtime=True, loop=True)
    start = time.monotonic()
    first = [next(src) for _ in range(6)]  # t = 0 .. 1.0 s
    elapsed = time.monotonic() - start
    assert first[-1].t == pytest.approx(1.0) and 0.9 < elapsed < 2.5
    assert first[0].wall is not None and first[0].wall.tzinfo is not None
    src.close()
    looped = open_source(str(bikes), sample_fps=1.0, loop=True)
    ts = [next(looped).t for _ in range(13)]  # the 10 s clip, then again from 10 s on
    assert ts == pytest.approx(list(range(13)))
    assert looped.decoded > 250


def test_missing_file_and_bad_rate() -> None:
    with pytest.raises(SourceError, match="文件不存在"):
        open_source("/nonexistent/clip.mp4", sample_fps=1)
    with pytest.raises(ValueError):
        open_source("/nonexistent/clip.mp4", sample_fps=0)


def test_snapshot_url_detection() -> None:
    assert is_snapshot_url("http://cam/ISAPI/Streaming/channels/101/picture.jpg")
    assert is_snapshot_url("http://cam/?action=snapshot") and is_snapshot_url("snapshot:http://cam/pic")
    assert not is_snapshot_url("http://cam/live.mp4") and not is_snapshot_url("rtsp://cam/h264")
    assert (
        mask_url("rtsp://admin:s3cret@10.0.0.5:554/Streaming/101") == "rtsp://***@10.0.0.5:554/Streaming/101"
    )


def test_snapshot_polling_with_credentials(media_server: MediaServer) -> None:
    media_server.auth = ("admin", "s3cret")
    src = open_source(media_server.url(userinfo="admin:s3cret@"), sample_fps=10.0)
    start = time.monotonic()
    frames = [next(src) for _ in range(4)]
    assert time.monotonic() - start >= 0.18  # 3 more polls at 10/s, not as fast as possible
    assert frames[0].image.shape == (432, 768, 3) and frames[-1].index == 3 and frames[-1].wall
    with pytest.raises(SourceError) as wrong:
        open_source(media_server.url(userinfo="admin:wrong@"), sample_fps=1)
    assert "401" in str(wrong.value) and "wrong" not in str(wrong.value)
    media_server.stop()
    with pytest.raises(SourceError) as gone:
        next(src)
    assert "s3cret" not in str(gone.value) and "***@" in str(gone.value)


def test_mjpeg_stream_that_ends_is_a_broken_live_source(media_server: MediaServer, bikes: Path) -> None:
    # An MJPEG stream over HTTP (multipart/x-mixed-replace), as many cameras serve: 40 real frames
    # of the street clip, then the server hangs up.
    media_server.mjpeg = [jpeg_of(f.image) for f in open_source(str(bikes), sample_fps=None) if f.index < 40]
    src = open_source(media_server.url("/live.mjpg"), sample_fps=5.0)
    assert src.live
    frames = []
    with pytest.raises(SourceError, match="视频流中断"):
        for frame in src:
            frames.append(frame)
    assert len(frames) > 5 and frames[0].image.shape == (272, 640, 3)


def test_unreachable_stream_is_a_source_error_without_the_password() -> None:
    with pytest.raises(SourceError) as err:
        open_source("http://admin:s3cret@127.0.0.1:9/live.mp4", sample_fps=1)
    assert "s3cret" not in str(err.value)
