from django.conf import settings
from django.http import HttpRequest


def shequ(request: HttpRequest) -> dict[str, object]:
    return {"MAP_TILES_URL": settings.MAP_TILES_URL, "MAP_TILES_CRS": settings.MAP_TILES_CRS}
