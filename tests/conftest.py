"""Shared fixtures. Test data is built by calling services, as the application does."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


def _shared_media() -> Path:
    """The team's real test media (../shared/media beside the checkout); SHEQU_SHARED_MEDIA overrides,
    and /work/shared/media is where it lives on the project's machines when the clone is elsewhere."""
    candidates = [Path(__file__).resolve().parents[2] / "shared" / "media", Path("/work/shared/media")]
    if override := os.environ.get("SHEQU_SHARED_MEDIA"):
        candidates.insert(0, Path(override))
    return next((p for p in candidates if p.is_dir()), candidates[0])


SHARED_MEDIA = _shared_media()
os.environ.setdefault("SHEQU_VAR_DIR", str(Path(__file__).resolve().parents[1] / "var" / "test"))


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    # PBKDF2 costs ~0.3 s per password by design; tests create hundreds of users. Hashing itself is
    # Django's, and tests/accounts checks that the production settings use PBKDF2.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def system_user(db: Any) -> Any:
    from shequ.accounts.models import Role
    from shequ.accounts.services import create_user

    return create_user(username="root", password="Root-pass-2026", role=Role.ADMINISTRATOR, actor=None)


@pytest.fixture
def make_user(db: Any, system_user: Any) -> Callable[..., Any]:
    from shequ.accounts.models import Role
    from shequ.accounts.services import create_user

    counter = iter(range(1, 10**6))

    def make(role: Role = Role.GRID_WORKER, *, grids: tuple[Any, ...] = (), **kwargs: Any) -> Any:
        from shequ.grids.services import assign_user

        username = kwargs.pop("username", f"{role.value}{next(counter)}")
        user = create_user(
            username=username, password="Good-pass-2026", role=role, actor=system_user, **kwargs
        )
        for grid in grids:
            assign_user(user, grid, actor=system_user)
        return user

    return make


def square(lon: float, lat: float, size: float) -> dict[str, Any]:
    return {
        "type": "Polygon",
        "coordinates": [
            [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]
        ],
    }


@pytest.fixture
def two_communities(db: Any, system_user: Any) -> dict[str, Any]:
    """A street with two communities, each with two unit grids, near Xicha (西岔镇), Lanzhou New Area."""
    from shequ.grids.services import save_grid

    street = save_grid(code="620171103", name="西岔镇", actor=system_user)
    out: dict[str, Any] = {"street": street}
    for c, lon in ((1, 103.60), (2, 103.62)):
        community = save_grid(
            code=f"620171103{c:03d}",
            name=f"社区{c}",
            parent=street,
            actor=system_user,
            geometry=square(lon, 36.50, 0.02),
        )
        out[f"community{c}"] = community
        for g, dlon in ((1, 0.0), (2, 0.01)):
            out[f"grid{c}{g}"] = save_grid(
                code=f"620171103{c:03d}{g:02d}",
                name=f"社区{c}第{g}网格",
                parent=community,
                actor=system_user,
                geometry=square(lon + dlon, 36.50, 0.01),
            )
    return out
