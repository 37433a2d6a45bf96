"""What the registry does when other apps' events arrive."""

from __future__ import annotations

from django.tasks import task

from shequ.core.models import Event
from shequ.core.outbox import handles
from shequ.grids.events import GridsChanged


@task(queue_name="default")
def place_in_grids_task() -> dict[str, int]:
    from shequ.registry.services import place_in_grids

    return place_in_grids(actor=None)


@handles(GridsChanged)
def replace_things_in_grids(event: GridsChanged, row: Event) -> None:
    """New grid polygons: put buildings, assets, organizations, households and people in them again.

    Enqueued rather than run here: it touches every located row, and a handler should be quick.
    """
    place_in_grids_task.enqueue()
