"""Fixtures of the case loop: the default categories (from the data migration), departments, users
of every role with their grids, and small real images. Built through the services, as the
application does.

Intake fixtures first (case_media, case_categories, case_departments, case_users, make_jpeg);
other parts of the case loop add theirs below the marked line.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from shequ.accounts.models import Department, Role

# --- intake fixtures ------------------------------------------------------------------------------

# Inside grid11 (社区1第1网格, 103.60–103.61 E, 36.50–36.51 N) and the other grids of two_communities.
IN_GRID11 = (103.605, 36.505)
IN_GRID12 = (103.615, 36.505)
IN_GRID21 = (103.625, 36.505)
OUTSIDE = (103.70, 36.60)


@pytest.fixture(autouse=True)
def case_media(settings: Any, tmp_path: Path) -> Path:
    """Photos go to a folder of the test's own, so a test can see what was (not) stored."""
    media = tmp_path / "media"
    media.mkdir()
    settings.MEDIA_ROOT = str(media)
    return media


def stored_files(media: Path) -> list[Path]:
    return [p for p in media.rglob("*") if p.is_file()]


@pytest.fixture
def case_categories(db: Any) -> dict[str, Any]:
    """Default subclasses from migration 0002 by name (events) or 部件 code, e.g. ["暴露垃圾"],
    ["部件0121"]."""
    from shequ.cases.models import Category

    out: dict[str, Any] = {}
    for category in Category.objects.filter(parent__isnull=False):
        key = category.name if category.kind == Category.Kind.EVENT else f"部件{category.code}"
        out[key] = category
    return out


@pytest.fixture
def case_departments(system_user: Any) -> dict[str, Department]:
    from shequ.accounts.services import create_department

    specs = [
        ("enforcement", "ZF01", "城管执法中队", Department.Kind.ENFORCEMENT),
        ("sanitation", "HW01", "环卫所", Department.Kind.GOVERNMENT),
        ("property", "WY01", "物业公司", Department.Kind.PROPERTY),
        ("gas", "RQ01", "燃气公司", Department.Kind.UTILITY),
        ("community", "SQ01", "社区居委会", Department.Kind.COMMUNITY),
        ("night", "YB01", "夜间值班组", Department.Kind.OTHER),
    ]
    return {
        key: create_department(code=code, name=name, kind=kind, actor=system_user)
        for key, code, name, kind in specs
    }


@pytest.fixture
def case_users(
    make_user: Callable[..., Any], two_communities: dict[str, Any], case_departments: dict[str, Department]
) -> dict[str, Any]:
    """One account per role: the operator and leader answer for the street (both communities),
    worker11 for grid11 only, worker21 for grid21, the handler belongs to the enforcement squad."""
    g = two_communities
    return {
        "operator": make_user(Role.COMMAND_OPERATOR, grids=(g["street"],), display_name="坐席小王"),
        "leader": make_user(Role.LEADER, grids=(g["street"],)),
        "worker11": make_user(Role.GRID_WORKER, grids=(g["grid11"],), display_name="网格员张"),
        "worker21": make_user(Role.GRID_WORKER, grids=(g["grid21"],)),
        "handler": make_user(Role.DEPARTMENT_HANDLER, department=case_departments["enforcement"]),
        "resident": make_user(Role.RESIDENT, display_name="居民李"),
        "resident2": make_user(Role.RESIDENT),
    }


def make_jpeg(
    size: tuple[int, int] = (64, 48),
    *,
    fmt: str = "JPEG",
    gps: tuple[str, tuple[float, float, float], str, tuple[float, float, float]] | None = None,
    taken: str | None = None,
) -> bytes:
    """A small real image; with `gps` (lat ref, lat d/m/s, lon ref, lon d/m/s) and `taken`
    ("YYYY:MM:DD HH:MM:SS") written into its EXIF."""
    image = Image.new("RGB", size, (120, 160, 90))
    exif = Image.Exif()
    if gps is not None:
        ifd = exif.get_ifd(0x8825)
        ifd[1], ifd[2], ifd[3], ifd[4] = gps
    if taken is not None:
        exif.get_ifd(0x8769)[36867] = taken
    buffer = io.BytesIO()
    image.save(buffer, fmt, exif=exif.tobytes() if (gps or taken) else b"")
    return buffer.getvalue()


# --- fixtures of other parts of the case loop below ---------------------------------------------


@pytest.fixture
def flow(case_users: dict[str, Any], case_departments: dict[str, Department]) -> Any:
    """Actors, a test category with known time limits, and cases made through the services
    (tests/cases/factories.py)."""
    from tests.cases.factories import Flow, make_category

    return Flow(users=case_users, departments=case_departments, category=make_category())
