"""The one map page (/onemap/): who opens it, what its script is told (the tile source and the
datum it draws in, where the layers are), and the tile settings' parsing and check."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core import checks
from tests.onemap.conftest import client_for

from shequ.onemap import tiles

pytestmark = pytest.mark.django_db


def config_of(page: Any) -> dict[str, Any]:
    html = page.content.decode()
    start = html.index('<script id="onemap-config" type="application/json">') + len(
        '<script id="onemap-config" type="application/json">'
    )
    return json.loads(html[start : html.index("</script>", start)])


@pytest.mark.parametrize("who", ["operator", "leader"])
def test_command_center_and_leaders_open_the_map(case_users, who):
    page = client_for(case_users[who]).get("/onemap/")
    assert page.status_code == 200
    html = page.content.decode()
    for hook in (
        'id="onemap"',
        'id="onemap-status"',
        'id="feed-panel"',
        'id="onemap-search"',
        "build/onemap.js",
    ):
        assert hook in html, hook
    config = config_of(page)
    assert config["api"]["cases"] == "/api/onemap/cases/"
    assert config["api"]["search"] == "/api/onemap/search/"
    assert config["feed_url"] == "/live/feed/"
    assert config["case_url"] == "/cases/NUMBER/"


def test_admin_opens_the_map(system_user):
    assert client_for(system_user).get("/onemap/").status_code == 200


@pytest.mark.parametrize("who", ["worker11", "handler", "resident"])
def test_others_get_403(case_users, who):
    assert client_for(case_users[who]).get("/onemap/").status_code == 403


def test_anonymous_logs_in_first(client):
    answer = client.get("/onemap/")
    assert answer.status_code == 302 and "/login/" in answer["Location"]


def test_nav_link_for_map_roles(case_users):
    assert 'href="/onemap/"' in client_for(case_users["operator"]).get("/").content.decode()
    assert 'href="/onemap/"' not in client_for(case_users["worker11"]).get("/").content.decode()


@pytest.mark.parametrize(
    ("value", "kind", "crs"),
    [
        ("offline", "offline", "wgs84"),
        ("tianditu:abc123", "tianditu", "wgs84"),
        ("amap", "amap", "gcj02"),
        ("tencent", "tencent", "gcj02"),
        ("osm:https://tiles.example/{z}/{x}/{y}.png", "osm", "wgs84"),
    ],
)
def test_the_page_tells_the_script_which_datum_to_draw_in(case_users, settings, value, kind, crs):
    settings.MAP_TILES = value
    config = config_of(client_for(case_users["operator"]).get("/onemap/"))
    assert config["tiles"]["kind"] == kind
    assert config["tiles"]["crs"] == crs  # gcj02: the browser converts every coordinate (coords.ts)
    if kind == "tianditu":
        assert (
            all("tk=abc123" in url for url in config["tiles"]["urls"]) and len(config["tiles"]["urls"]) == 2
        )
    if kind == "offline":
        assert config["tiles"]["urls"] == []


def test_online_tiles_show_no_offline_notice(case_users, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    settings.MAP_TILES = "amap"
    html = client_for(case_users["operator"]).get("/onemap/").content.decode()
    assert 'id="onemap-notice"' not in html


@pytest.mark.parametrize(
    "value",
    ["tianditu:", "tianditu:a b", "osm:ftp://x/{z}/{x}/{y}", "osm:https://x/tiles", "google", "amap:1"],
)
def test_bad_tile_settings_are_refused_at_start(settings, value):
    with pytest.raises(ValueError):
        tiles.parse(value)
    settings.MAP_TILES = value
    errors = tiles.check_map_tiles(None)
    assert [e.id for e in errors] == ["onemap.E001"]
    assert all(isinstance(e, checks.Error) for e in errors)


def test_the_small_maps_tile_server_serves_the_one_map_too(case_users, settings):
    settings.MAP_TILES = ""
    settings.MAP_TILES_URL = "https://tiles.example/{z}/{x}/{y}.png"
    settings.MAP_TILES_CRS = "gcj02"
    config = config_of(client_for(case_users["operator"]).get("/onemap/"))
    assert config["tiles"]["kind"] == "custom" and config["tiles"]["crs"] == "gcj02"
    assert config["tiles"]["urls"] == ["https://tiles.example/{z}/{x}/{y}.png"]
