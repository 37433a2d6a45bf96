"""The two formats of GeoReport v2: XML and JSON, from one description of each answer.

An answer is a root tag, an item tag and a list of items; an item is a list of (name, value), a
value being text, a number, a boolean, None (an empty element; null in JSON), or a nested list of
items under a (list tag, item tag) pair (the attributes' `values`) or a list of plain values
(`formats`). XML is built with ElementTree, which escapes `<`, `&` and quotes; characters XML 1.0
cannot hold at all (control characters, lone surrogates) are dropped first, so a description with
them still makes a well-formed document.
"""

from __future__ import annotations

import json
import re
from typing import Any
from xml.etree import ElementTree as ET

from django.http import HttpResponse

XML_TYPE = "text/xml; charset=utf-8"
JSON_TYPE = "application/json; charset=utf-8"
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")

Item = list[tuple[str, Any]]


class Nested:
    """A list of items inside an item: `<values><value>...</value></values>`, in JSON a list."""

    def __init__(self, item_tag: str, items: list[Item] | list[str]) -> None:
        self.item_tag = item_tag
        self.items = items


def clean(text: str) -> str:
    """Text without the characters XML 1.0 cannot hold (control characters but tab, newline,
    carriage return; lone surrogates)."""
    return NOT_XML.sub("", text)


def _xml_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return clean(str(value))


def _xml_item(parent: ET.Element, tag: str, item: Item) -> None:
    node = ET.SubElement(parent, tag)
    for name, value in item:
        if isinstance(value, Nested):
            group = ET.SubElement(node, name)
            for sub in value.items:
                if isinstance(sub, list):
                    _xml_item(group, value.item_tag, sub)
                else:
                    ET.SubElement(group, value.item_tag).text = _xml_text(sub)
        else:
            ET.SubElement(node, name).text = _xml_text(value)


def _json_value(value: Any) -> Any:
    if isinstance(value, Nested):
        return [_json_item(sub) if isinstance(sub, list) else _json_value(sub) for sub in value.items]
    if isinstance(value, str):
        return clean(value)
    return value


def _json_item(item: Item) -> dict[str, Any]:
    return {name: _json_value(value) for name, value in item}


def xml_document(root: str, item_tag: str, items: list[Item]) -> bytes:
    node = ET.Element(root)
    for item in items:
        _xml_item(node, item_tag, item)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(
        node, encoding="utf-8", xml_declaration=False
    )


def render(fmt: str, root: str, item_tag: str, items: list[Item], *, status: int = 200) -> HttpResponse:
    """A list answer (services, requests, errors...) in the format asked."""
    if fmt == "json":
        body = json.dumps([_json_item(i) for i in items], ensure_ascii=False).encode()
        return HttpResponse(body, content_type=JSON_TYPE, status=status)
    return HttpResponse(xml_document(root, item_tag, items), content_type=XML_TYPE, status=status)


def render_one(fmt: str, root: str, item: Item, *, status: int = 200) -> HttpResponse:
    """A single-object answer (discovery, a service definition): the root is the object."""
    if fmt == "json":
        body = json.dumps(_json_item(item), ensure_ascii=False).encode()
        return HttpResponse(body, content_type=JSON_TYPE, status=status)
    holder = ET.Element("holder")
    _xml_item(holder, root, item)
    node = holder[0]
    return HttpResponse(
        b'<?xml version="1.0" encoding="utf-8"?>\n'
        + ET.tostring(node, encoding="utf-8", xml_declaration=False),
        content_type=XML_TYPE,
        status=status,
    )


def error(fmt: str, status: int, description: str) -> HttpResponse:
    """The spec's error answer: `<errors><error><code/><description/></error></errors>`, in JSON
    `[{"code": ..., "description": ...}]`, with the code as the HTTP status too."""
    return render(fmt, "errors", "error", [[("code", status), ("description", description)]], status=status)
