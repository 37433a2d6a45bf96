"""The API's JSON parser, in a module of its own: DRF reads DEFAULT_PARSER_CLASSES while
rest_framework.views is imported, which core.api itself imports."""

from __future__ import annotations

from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """JSON, where a body nested too deep for Python's decoder (`[[[[…`) is a 400 like any other
    malformed body, not a RecursionError and a 500. The default parser of every endpoint."""

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON 嵌套过深") from None
