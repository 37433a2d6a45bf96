"""Who sees which cameras and alerts, and which images: the command center its grids' cameras with
original images, grid workers their grids' with faces and plates blurred, other roles nothing."""

from __future__ import annotations

import pytest

from shequ.video import selectors, services
from tests.video.conftest import frame_jpeg, mp4_clip, noisy_jpeg, region_std

pytestmark = pytest.mark.django_db


def codes(qs) -> set[str]:
    return set(qs.values_list("code", flat=True))


def test_cameras_per_role(cameras, video_users):
    u = video_users
    assert codes(selectors.cameras_for(u["admin"])) == {"CAM11", "CAM21", "CAM-OUT"}
    # The operator of the street: both communities, and the cameras no grid holds (to place them).
    assert codes(selectors.cameras_for(u["operator"])) == {"CAM11", "CAM21", "CAM-OUT"}
    assert codes(selectors.cameras_for(u["leader"])) == {"CAM11", "CAM21"}
    assert codes(selectors.cameras_for(u["operator2"])) == {"CAM21", "CAM-OUT"}
    assert codes(selectors.cameras_for(u["worker11"])) == {"CAM11"}
    assert codes(selectors.cameras_for(u["worker21"])) == {"CAM21"}
    for name in ("handler", "resident"):
        assert not selectors.cameras_for(u[name]).exists()
        assert not selectors.may_watch(u[name])
    assert selectors.access_camera(u["worker11"], cameras["cam21"].pk) is None
    assert selectors.access_camera(u["worker11"], cameras["cam11"].pk) == cameras["cam11"]


def test_alerts_follow_their_cameras(make_alert, video_users):
    a11, a21 = make_alert("cam11"), make_alert("cam21")
    u = video_users
    assert set(selectors.alerts_for(u["worker11"])) == {a11}
    assert set(selectors.alerts_for(u["operator2"])) == {a21}
    assert set(selectors.alerts_for(u["admin"])) == {a11, a21}
    assert selectors.access_alert(u["worker21"], a11.pk) is None
    assert not selectors.alerts_for(u["handler"]).exists()
    assert not selectors.alerts_for(u["resident"]).exists()


def test_originals_to_the_command_center_blurred_to_grid_workers(make_alert, video_users, cameras):
    shot = noisy_jpeg()
    person = (0.4, 0.2, 0.6, 0.9)
    alert = make_alert(label="person", kind="intrusion", box=person, snapshot=shot)
    for name in ("admin", "operator", "leader"):
        assert selectors.snapshot_for(video_users[name], alert) == shot
    blurred = selectors.snapshot_for(video_users["worker11"], alert)
    assert blurred is not None and blurred != shot
    head = (0.4, 0.2, 0.6, 0.3)
    assert region_std(blurred, head) < 0.5 * region_std(shot, head)
    alert.refresh_from_db()
    assert alert.snapshot_blurred  # made once, kept
    assert selectors.snapshot_for(video_users["worker11"], alert) == blurred

    services.store_latest_snapshot(cameras["cam11"].pk, frame_jpeg())
    cameras["cam11"].refresh_from_db()
    assert selectors.snapshot_for(video_users["operator"], cameras["cam11"]) == frame_jpeg()
    latest = selectors.snapshot_for(video_users["worker11"], cameras["cam11"])
    assert latest is not None and latest[:3] == b"\xff\xd8\xff" and latest != frame_jpeg()


def test_a_failing_blur_fails_closed(make_alert, video_users, monkeypatch):
    """If the engine's blur breaks, a grid worker gets a pixelated image, never the original."""
    import shequ_vision.privacy

    def broken(data, **kwargs):
        raise RuntimeError("model missing")

    monkeypatch.setattr(shequ_vision.privacy, "blur_jpeg", broken)
    shot = noisy_jpeg()
    alert = make_alert(snapshot=shot)
    shown = selectors.snapshot_for(video_users["worker11"], alert)
    assert shown != shot
    assert region_std(shown, (0, 0, 1, 1)) < 0.3 * region_std(shot, (0, 0, 1, 1))


def test_clips_only_to_the_command_center(make_alert, video_users):
    clip = mp4_clip()
    alert = make_alert(clip=clip)
    assert selectors.clip_for(video_users["operator"], alert) == clip
    assert selectors.clip_for(video_users["worker11"], alert) is None
