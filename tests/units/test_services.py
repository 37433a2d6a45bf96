"""The rules of units, through the services: who has a duty status, consent and duty before any
position is kept, the throttle, bounded values, when "units.position" is published, and the purge."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest
import time_machine
from django.core.management import call_command

from shequ.core.errors import Conflict, Forbidden, Invalid
from shequ.core.geo import offset
from shequ.core.models import AuditEntry, Event
from shequ.units import services
from shequ.units.models import DutyStatus, Position, Status
from tests.cases.conftest import IN_GRID11, IN_GRID12, OUTSIDE
from tests.units.conftest import T0

pytestmark = pytest.mark.django_db


def events() -> list[dict[str, Any]]:
    return [e.payload for e in Event.objects.filter(type="units.position").order_by("seq")]


# --- who, consent, duty ---------------------------------------------------------------------------


def test_only_field_roles_have_a_duty_status(units):
    for name in ("operator", "leader", "resident"):
        with pytest.raises(Forbidden):
            services.set_status(units[name], "on_duty", consent=True)
        with pytest.raises(Forbidden):
            services.record_position(units[name], *IN_GRID11, 10)
    assert not DutyStatus.objects.exists() and not Position.objects.exists()
    assert services.set_status(units["worker11"], "on_duty").status == Status.ON_DUTY
    assert services.set_status(units["handler"], "busy").status == Status.BUSY


def test_no_position_without_consent(units):
    worker = units["worker11"]
    services.set_status(worker, "on_duty")  # on duty, but never consented
    with pytest.raises(Conflict, match="同意"):
        services.record_position(worker, *IN_GRID11, 10)
    assert not Position.objects.exists()


def test_no_position_off_duty_and_going_off_duty_stops_sharing(units):
    worker = units["worker11"]
    services.set_status(worker, "off_duty", consent=True)
    with pytest.raises(Conflict, match="下岗"):
        services.record_position(worker, *IN_GRID11, 10)
    services.set_status(worker, "on_duty")
    services.record_position(worker, *IN_GRID11, 10)
    duty = services.set_status(worker, "off_duty")
    assert duty.last_lon is None and duty.last_at is None and not duty.is_sharing
    with pytest.raises(Conflict):
        services.record_position(worker, *IN_GRID11, 10)
    assert Position.objects.count() == 1  # the history stays (until the purge)
    off = events()[-1]
    assert off["status"] == "off_duty" and off["lon"] is None and off["lat"] is None


def test_revoking_consent_stops_sharing_and_is_audited(units):
    worker = units["worker11"]
    services.set_status(worker, "on_duty", consent=True)
    services.record_position(worker, *IN_GRID11, 10)
    duty = services.set_status(worker, "on_duty", consent=False)
    assert duty.consent_at is None and duty.last_lon is None
    with pytest.raises(Conflict, match="同意"):
        services.record_position(worker, *IN_GRID11, 10)
    entries = list(
        AuditEntry.objects.filter(action="units.status").order_by("pk").values_list("detail", flat=True)
    )
    assert entries[0]["consent"] is True and entries[-1]["consent"] is False
    assert events()[-1]["lon"] is None  # the map drops the point


def test_busy_units_share_their_position(units, on_duty):
    worker = on_duty(units["worker11"], status="busy")
    done = services.record_position(worker, *IN_GRID11, 8)
    assert not done.ignored and done.position is not None and done.position.status == "busy"


# --- values -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lon", "lat", "accuracy", "field"),
    [
        (181, 36.5, 10, "lon"),
        (103.6, -90.5, 10, "lat"),
        (math.nan, 36.5, 10, "lon"),
        (103.6, math.inf, 10, "lat"),
        (103.6, 36.5, -1, "accuracy_m"),
        (103.6, 36.5, 1e6, "accuracy_m"),
        (103.6, 36.5, math.nan, "accuracy_m"),
        ("103.6", 36.5, 10, "lon"),
        (103.6, True, 10, "lat"),  # regression: a boolean passed as 1
        (103.6, 36.5, True, "accuracy_m"),
    ],
)
def test_bad_values_are_refused(units, on_duty, lon, lat, accuracy, field):
    worker = on_duty(units["worker11"])
    with pytest.raises(Invalid) as refused:
        services.record_position(worker, lon, lat, accuracy)
    assert refused.value.field == field
    assert not Position.objects.exists()


def test_fix_time_is_bounded(units, on_duty):
    worker = on_duty(units["worker11"])
    with time_machine.travel(T0, tick=False):
        with pytest.raises(Invalid, match="晚于"):
            services.record_position(worker, *IN_GRID11, 10, T0 + dt.timedelta(minutes=5))
        with pytest.raises(Invalid, match="过早"):
            services.record_position(worker, *IN_GRID11, 10, T0 - dt.timedelta(hours=2))
        with pytest.raises(Invalid, match="时区"):
            services.record_position(worker, *IN_GRID11, 10, dt.datetime(2026, 6, 1, 9, 0))
        # A phone a minute fast is fine.
        done = services.record_position(worker, *IN_GRID11, 10, T0 + dt.timedelta(minutes=1))
        assert done.position is not None


# --- throttle and events ----------------------------------------------------------------------------


def test_posts_faster_than_five_seconds_are_ignored(units, on_duty):
    worker = on_duty(units["worker11"])
    with time_machine.travel(T0, tick=False) as clock:
        first = services.record_position(worker, *IN_GRID11, 10)
        clock.shift(dt.timedelta(seconds=2))
        again = services.record_position(worker, *IN_GRID12, 10)
        clock.shift(dt.timedelta(seconds=3))
        later = services.record_position(worker, *IN_GRID12, 10)
    assert not first.ignored and again.ignored and again.position is None and not later.ignored
    assert Position.objects.count() == 2
    duty = DutyStatus.objects.get(user=worker)
    assert (duty.last_lon, duty.last_lat) == IN_GRID12


def test_event_only_when_status_changed_moved_or_a_minute_passed(units, two_communities):
    worker = units["worker11"]
    lon0, lat0 = IN_GRID11
    with time_machine.travel(T0, tick=False) as clock:
        services.set_status(worker, "on_duty", consent=True)
        assert [e["status"] for e in events()] == ["on_duty"]  # the change of status
        first = services.record_position(worker, lon0, lat0, 10)
        assert first.published  # the first point
        clock.shift(dt.timedelta(seconds=10))
        near = offset(lon0, lat0, 15, 0)  # 15 m east: not news
        assert not services.record_position(worker, *near, 10).published
        clock.shift(dt.timedelta(seconds=10))
        far = offset(lon0, lat0, 25, 0)  # 25 m from the last event's point: news
        assert services.record_position(worker, *far, 10).published
        clock.shift(dt.timedelta(seconds=30))
        assert not services.record_position(worker, *far, 10).published  # 30 s, still
        clock.shift(dt.timedelta(seconds=30))
        assert services.record_position(worker, *far, 10).published  # a minute since the last event
        clock.shift(dt.timedelta(seconds=10))
        services.set_status(worker, "busy")  # a change of status: news at once
        clock.shift(dt.timedelta(seconds=6))
        assert not services.record_position(worker, *far, 10).published
    sent = events()
    assert [e["status"] for e in sent] == ["on_duty", "on_duty", "on_duty", "on_duty", "busy"]
    assert Position.objects.count() == 6
    point = sent[1]
    assert point["user_id"] == worker.pk and point["grid_id"] == two_communities["grid11"].pk
    assert point["department_id"] is None and (point["lon"], point["lat"]) == IN_GRID11
    assert point["at"].startswith("2026-06-01T09:00:00") and point["at"].endswith("+08:00")
    assert sent[-1]["lon"] == pytest.approx(far[0])  # busy, still sharing its point


def test_event_scope_fields(units, on_duty, two_communities):
    handler = on_duty(units["handler"], *IN_GRID12)
    payload = events()[-1]
    assert payload["department_id"] == handler.department_id
    assert payload["grid_id"] == two_communities["grid12"].pk
    # Outside every grid: a handler's event has no grid; a grid worker's is scoped by their home
    # grid (else every operator would see it), with or without a point.
    on_duty(units["handler2"], *OUTSIDE)
    assert events()[-1]["grid_id"] is None
    worker = units["worker21"]
    on_duty(worker, *OUTSIDE)
    assert events()[-1]["grid_id"] == two_communities["grid21"].pk
    services.set_status(worker, "off_duty")
    assert events()[-1]["grid_id"] == two_communities["grid21"].pk


def test_a_late_fix_is_history_only(units, on_duty):
    worker = on_duty(units["worker11"])
    with time_machine.travel(T0, tick=False) as clock:
        services.record_position(worker, *IN_GRID12, 10, T0)
        clock.shift(dt.timedelta(seconds=10))
        late = services.record_position(worker, *IN_GRID11, 10, T0 - dt.timedelta(minutes=5))
    assert late.position is not None and not late.published
    duty = DutyStatus.objects.get(user=worker)
    assert (duty.last_lon, duty.last_lat) == IN_GRID12


# --- retention ------------------------------------------------------------------------------------


def test_purge_deletes_positions_past_retention(units, on_duty, settings):
    settings.UNITS_POSITION_RETENTION_DAYS = 30
    old, recent = units["worker11"], units["worker12"]
    with time_machine.travel(T0 - dt.timedelta(days=31), tick=False):
        on_duty(old, *IN_GRID11)
        on_duty(recent, *IN_GRID12)
    with time_machine.travel(T0 - dt.timedelta(days=29), tick=False):
        services.record_position(recent, *IN_GRID12, 10)
    with time_machine.travel(T0, tick=False):
        assert services.purge_positions() == {"deleted": 2, "forgotten": 1}
        assert services.purge_positions() == {"deleted": 0, "forgotten": 0}  # idempotent
    assert list(Position.objects.values_list("user_id", flat=True)) == [recent.pk]
    assert DutyStatus.objects.get(user=old).last_lon is None
    assert DutyStatus.objects.get(user=recent).last_lon is not None
    entry = AuditEntry.objects.get(action="units.positions_purged")
    assert entry.detail == {"deleted": 2, "forgotten": 1, "days": 30}


def test_purge_command_and_periodic_task(units, on_duty, capsys):
    from shequ.core import periodic
    from shequ.units.tasks import purge_positions_task

    assert any(s.task is purge_positions_task for s in periodic.schedules())
    call_command("purge_positions")
    assert "保存期限 30 天" in capsys.readouterr().out


def test_retention_setting_is_bounded(settings):
    import shequ.settings as shipped

    assert shipped.UNITS_POSITION_RETENTION_DAYS == services.retention_days() == 30
    settings.UNITS_POSITION_RETENTION_DAYS = 90
    assert services.retention_days() == 90
