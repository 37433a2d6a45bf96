from django.conf import settings
from django.http import HttpRequest

from shequ.web import access


def shequ(request: HttpRequest) -> dict[str, object]:
    """What every page needs: the basemap settings and which parts of the navigation to show."""
    user = getattr(request, "user", None)
    role = access.role_of(user) if user is not None else None
    return {
        "MAP_TILES_URL": settings.MAP_TILES_URL,
        "MAP_TILES_CRS": settings.MAP_TILES_CRS,
        "user_role": role,
        "may_browse_registers": user is not None and access.may_browse_registers(user),
        "may_import": user is not None and access.may_import(user),
    }
