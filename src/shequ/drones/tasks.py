"""Background work of the drones app: scheduled patrols, photo analysis, folder watch (docs/drones.md)."""

from __future__ import annotations
