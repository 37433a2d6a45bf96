"""Outbox rows → feed messages: a Chinese title, the urgent flag, and the case or unit the event is
about (docs/live.md "Messages"). Done once per event by the pump (and by a stream's replay), never
per client: the message is serialized here and the streams send the string as it is.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from shequ.cases.models import Case, CaseState, Urgency
from shequ.cases.services.machine import Action

FEED_TYPES = frozenset(
    {
        "cases.transitioned",
        "cases.deadline",
        "command.instruction",
        "units.position",
        "video.alert_raised",
        "drones.position",
        "drones.finding_raised",
    }
)
# Camera alerts that beep: people where they must not be, or gathering (the others wait in the queue).
URGENT_ALERT_KINDS = frozenset({"intrusion", "crowd"})
# Drone findings that beep: a crowd (the others wait in the findings queue).
URGENT_FINDING_KINDS = frozenset({"crowd"})
URGENT_LEVELS = frozenset({Urgency.URGENT.value, Urgency.CRITICAL.value})
# Acts that bring a case (back) before the command center: an urgent case beeps on these only,
# not on every step it takes.
ALERT_ACTIONS = frozenset({Action.REPORT.value, Action.REOPEN.value, Action.VERIFY_FAIL.value})


@dataclasses.dataclass(frozen=True, slots=True)
class FeedItem:
    """One feed message, ready to send: its scope keys and its FeedMessage JSON."""

    seq: int
    grid_id: int | None
    department_id: int | None
    user_id: int | None
    data: str
    kind: str = ""  # the event type: scope depends on it (live.scope.ADDRESSED_TYPES)

    def as_wire(self) -> list[Any]:
        """The compact form the channel layer carries (msgpack and deepcopy both cheap)."""
        return [self.seq, self.grid_id, self.department_id, self.user_id, self.data, self.kind]

    @classmethod
    def from_wire(cls, raw: list[Any]) -> FeedItem:
        return cls(int(raw[0]), raw[1], raw[2], raw[3], str(raw[4]), str(raw[5]) if len(raw) > 5 else "")


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _local_iso(value: dt.datetime) -> str:
    return timezone.localtime(value).isoformat()


def _case_dict(case: Case, now: dt.datetime) -> dict[str, Any]:
    category = case.category
    return {
        "id": case.pk,
        "number": case.number,
        "state": case.state,
        "state_label": str(CaseState(case.state).label),
        "lon": case.lon,
        "lat": case.lat,
        "urgency": case.urgency,
        "overdue": case.is_overdue(now),
        # The same shapes as the cases API (CaseSerializer): category {id, code, name}, grid code.
        "category": {"id": category.pk, "code": category.code, "name": category.name} if category else None,
        "grid": case.grid.code if case.grid else None,
    }


def _label(choices: Any, value: Any) -> str:
    try:
        return str(choices(value).label)
    except ValueError:
        return str(value)


def _unit_status_label(status: str) -> str:
    from shequ.units.models import Status  # the units app owns the statuses

    return _label(Status, status)


def _title(
    kind: str,
    payload: Mapping[str, Any],
    case: dict[str, Any] | None,
    unit: dict[str, Any] | None,
    camera: str = "",
) -> str:
    number = payload.get("number") or (case or {}).get("number") or ""
    if kind == "cases.transitioned":
        act = _label(Action, payload.get("action", ""))
        category = ((case or {}).get("category") or {}).get("name")
        tail = f" · {category}" if category else ""
        return _("案件 %(number)s %(act)s%(tail)s") % {"number": number, "act": act, "tail": tail}
    if kind == "cases.deadline":
        what = payload.get("what")
        if what == "warning":
            return _("案件 %(number)s 即将超期") % {"number": number}
        if what == "overdue":
            return _("案件 %(number)s 已超期") % {"number": number}
        return _("案件 %(number)s 升级为 %(level)s 级督办") % {
            "number": number,
            "level": payload.get("level"),
        }
    if kind == "command.instruction":
        titles = {
            "sent": _("新指令: %(title)s"),
            "acknowledged": _("指令已签收: %(title)s"),
            "reported": _("指令已反馈: %(title)s"),
            "escalated": _("指令升级: %(title)s"),
            "closed": _("指令已办结: %(title)s"),
        }
        template = titles.get(str(payload.get("what")), _("指令: %(title)s"))
        return template % {"title": payload.get("title", "")}
    if kind == "units.position":
        name = (unit or {}).get("name") or ""
        return _("%(name)s %(status)s") % {
            "name": name,
            "status": _unit_status_label(str(payload.get("status"))),
        }
    if kind == "video.alert_raised":
        from shequ.video.models import AlertKind  # the video app owns the kinds

        return _("摄像头告警: %(kind)s · %(camera)s") % {
            "kind": _label(AlertKind, payload.get("kind", "")),
            "camera": camera,
        }
    if kind == "drones.position":
        return _("无人机 %(drone)s 位置") % {"drone": camera}
    if kind == "drones.finding_raised":
        from shequ.drones.models import FindingKind  # the drones app owns the kinds

        return _("航拍发现: %(kind)s") % {"kind": _label(FindingKind, payload.get("kind", ""))}
    return kind


def _urgent(kind: str, payload: Mapping[str, Any]) -> bool:
    if kind == "cases.transitioned":  # supervision alarms through its cases.deadline event
        return payload.get("urgency") in URGENT_LEVELS and payload.get("action") in ALERT_ACTIONS
    if kind == "cases.deadline":
        return payload.get("what") in {"overdue", "supervised"}
    if kind == "command.instruction":
        what = payload.get("what")
        return what == "escalated" or (what == "sent" and payload.get("urgency") in URGENT_LEVELS)
    if kind == "video.alert_raised":
        return payload.get("kind") in URGENT_ALERT_KINDS
    if kind == "drones.finding_raised":
        return payload.get("kind") in URGENT_FINDING_KINDS
    return False


def _device(kind: str, payload: Mapping[str, Any], cameras: dict[int, str], drones: dict[int, str]) -> str:
    """The name of the camera, or the code of the drone, an event is about ("" for others)."""
    if kind == "drones.position":
        return drones.get(_int_or_none(payload.get("drone_id")) or 0, "")
    return cameras.get(_int_or_none(payload.get("camera_id")) or 0, "")


def to_items(rows: Iterable[tuple[int, str, Any, dt.datetime]]) -> list[FeedItem]:
    """Feed items for outbox rows (seq, type, payload, occurred_at), in the given order; rows of
    other types are left out. One query for the cases and one for the units of all the rows."""
    wanted = [(seq, kind, payload, at) for seq, kind, payload, at in rows if kind in FEED_TYPES]
    if not wanted:
        return []
    case_ids = {
        cid for _s, _k, p, _a in wanted if isinstance(p, dict) and (cid := _int_or_none(p.get("case_id")))
    }
    user_ids = {
        uid
        for _s, k, p, _a in wanted
        if k == "units.position" and isinstance(p, dict) and (uid := _int_or_none(p.get("user_id")))
    }
    camera_ids = {
        cid
        for _s, k, p, _a in wanted
        if k.startswith("video.") and isinstance(p, dict) and (cid := _int_or_none(p.get("camera_id")))
    }
    cameras: dict[int, str] = {}
    if camera_ids:
        from shequ.video.models import Camera

        cameras = dict(Camera.objects.filter(pk__in=camera_ids).values_list("pk", "name"))
    drone_ids = {
        did
        for _s, k, p, _a in wanted
        if k == "drones.position" and isinstance(p, dict) and (did := _int_or_none(p.get("drone_id")))
    }
    drones: dict[int, str] = {}
    if drone_ids:
        from shequ.drones.models import Drone

        drones = dict(Drone.objects.filter(pk__in=drone_ids).values_list("pk", "code"))
    now = timezone.now()
    cases = {
        c.pk: _case_dict(c, now)
        for c in Case.objects.filter(pk__in=case_ids).select_related("category", "grid")
    }
    users = {
        u.pk: u
        for u in get_user_model()
        .objects.filter(pk__in=user_ids)
        .only("pk", "username", "display_name", "role")
    }
    items = []
    with translation.override(settings.LANGUAGE_CODE):  # one title for every viewer: zh-Hans
        for seq, kind, payload, at in wanted:
            p = payload if isinstance(payload, dict) else {}
            case = cases.get(_int_or_none(p.get("case_id")) or 0)
            unit = None
            if kind == "units.position":
                user = users.get(_int_or_none(p.get("user_id")) or 0)
                unit = {
                    "user_id": p.get("user_id"),
                    "name": (user.display_name or user.username) if user else "",
                    "role": user.role if user else "",
                    "lon": p.get("lon"),
                    "lat": p.get("lat"),
                    "status": p.get("status"),
                    "at": p.get("at"),
                }
            message = {
                "seq": seq,
                "type": kind,
                "at": _local_iso(at),
                "title": _title(kind, p, case, unit, _device(kind, p, cameras, drones)),
                "urgent": _urgent(kind, p),
                "payload": p,
                "case": case,
                "unit": unit,
            }
            items.append(
                FeedItem(
                    seq=seq,
                    grid_id=_int_or_none(p.get("grid_id")),
                    department_id=_int_or_none(p.get("department_id")),
                    user_id=_int_or_none(p.get("user_id")),
                    data=json.dumps(message, ensure_ascii=False, separators=(",", ":")),
                    kind=kind,
                )
            )
    return items
