"""Who sees which feed event (docs/live.md "Scope").

Every event type of the feed carries `grid_id` and `department_id` in its payload, and one meant
for a person also `user_id`. A `Viewer` is computed once when a stream opens (role, visible grids,
department) and then decides per event without touching the database.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from shequ.accounts.models import Role
from shequ.grids.selectors import visible_grid_ids

# Roles that have a feed at all. The other area roles (emergency, services, party) and residents
# see no case in their work (cases.selectors.GRID_ROLES), so they see nothing here either.
FEED_ROLES = frozenset(
    {Role.ADMINISTRATOR, Role.COMMAND_OPERATOR, Role.LEADER, Role.DEPARTMENT_HANDLER, Role.GRID_WORKER}
)
# Events of things addressed to someone: a grid worker sees those meant for them, not every one of
# their grids (as command.selectors.instructions_for lets them see only what they answer for).
ADDRESSED_TYPES = frozenset({"command.instruction"})


@dataclasses.dataclass(frozen=True)
class Viewer:
    """A feed viewer's scope: `grids` None means every grid (the administrator's scope)."""

    user_id: int
    role: str
    grids: frozenset[int] | None
    department_id: int | None

    @property
    def sees_anything(self) -> bool:
        return self.role in FEED_ROLES

    def sees(self, item: Mapping[str, Any], kind: str | None = None) -> bool:
        """Whether this viewer may see an event, given its payload and type (`kind`) or a
        FeedMessage (whose `payload` then holds the scope fields, and `type` the type)."""
        payload = item.get("payload", item)
        if not isinstance(payload, Mapping):
            return False
        if kind is None:
            kind = str(item.get("type", "")) if payload is not item else ""
        return self.sees_keys(
            payload.get("grid_id"), payload.get("department_id"), payload.get("user_id"), kind
        )

    def sees_keys(
        self, grid_id: int | None, department_id: int | None, user_id: int | None, kind: str = ""
    ) -> bool:
        role = self.role
        if role == Role.ADMINISTRATOR:
            return True
        in_grids = grid_id is not None and (self.grids is None or grid_id in self.grids)
        mine = user_id is not None and user_id == self.user_id
        if role == Role.COMMAND_OPERATOR:
            # Reports not located yet (no grid) are the command center's to place.
            return in_grids or grid_id is None
        if role == Role.LEADER:
            return in_grids
        if role == Role.GRID_WORKER:
            return mine if kind in ADDRESSED_TYPES else in_grids or mine
        if role == Role.DEPARTMENT_HANDLER:
            return (department_id is not None and department_id == self.department_id) or mine
        return False


def viewer_for(user: Any) -> Viewer | None:
    """The viewer for a signed-in, active user (reads the grids once); None for anyone else."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    role = Role(user.role)
    grids = visible_grid_ids(user) if role in FEED_ROLES else frozenset()
    return Viewer(user_id=user.pk, role=role.value, grids=grids, department_id=user.department_id)
