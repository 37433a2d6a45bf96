"""The tracker: identities across frames, surviving misses, label families, stationarity."""

from __future__ import annotations

from shequ_vision.detect import Detection
from shequ_vision.track import Tracker


def car(x: float, label: str = "car") -> Detection:
    return Detection(label, 0.8, (x, 0.5, x + 0.2, 0.7))


def test_one_identity_through_moves_and_misses() -> None:
    tracker = Tracker(max_age_seconds=5)
    first = tracker.update([car(0.1)], 0)[0]
    assert tracker.update([car(0.12)], 1)[0].id == first.id  # IoU match
    assert tracker.update([], 2)[0].id == first.id  # a miss: kept, not moved
    assert tracker.update([], 4) and first.last_t == 1
    # At 1 frame/s a fast object's boxes need not overlap: the centroid fallback joins them.
    assert tracker.update([car(0.28)], 5)[0].id == first.id
    assert tracker.update([], 10.5) == []  # unseen for longer than max_age: gone


def test_labels_of_one_family_keep_the_track_others_do_not() -> None:
    tracker = Tracker()
    track = tracker.update([car(0.1)], 0)[0]
    assert [t.id for t in tracker.update([car(0.1, "truck")], 1)] == [track.id]
    assert track.label == "truck"
    tracks = tracker.update([car(0.1, "person")], 2)
    assert len(tracks) == 2 and tracks[1].id != track.id


def test_two_objects_keep_their_own_tracks() -> None:
    tracker = Tracker()
    a, b = tracker.update([car(0.0), car(0.5)], 0)
    tracks = tracker.update([car(0.52), car(0.02)], 1)
    assert {t.id: t.box[0] for t in tracks} == {a.id: 0.02, b.id: 0.52}


def test_stationary_time_resets_on_real_moves_not_on_jitter() -> None:
    tracker = Tracker(stationary_tolerance=0.3)
    track = tracker.update([car(0.1)], 0)[0]
    for t, x in enumerate([0.11, 0.1, 0.12, 0.11, 0.1], start=1):  # a few pixels of jitter
        tracker.update([car(x)], t)
    assert track.stationary_seconds() == 5 and track.is_stationary(5)
    # Creeping 0.02 a second: each step is jitter-sized, but the anchor catches the drift.
    for t in range(6, 16):
        tracker.update([car(0.1 + 0.02 * (t - 5))], t)
    assert track.stationary_seconds() < 5
    assert track.displacement(10) > 0.5
