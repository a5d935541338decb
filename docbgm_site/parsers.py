"""A JSON parser for every API endpoint that turns any malformed body into a 400, never a 500.

DRF's JSONParser catches ValueError only, and Python's json module lets three kinds of hostile
body through it: numbers past float range (`1e400` becomes inf, and `int(inf)` raises
OverflowError in whatever reads it), nesting deep enough to exhaust the C recursion limit
(RecursionError), and bodies of any size. This parser bounds all three before and while decoding,
and refuses NaN and Infinity as DRF's strict mode does. Every refusal is a ParseError, which DRF
answers with 400 and its message.
"""

import codecs
import json
import math

from django.conf import settings
from rest_framework import renderers
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser

MAX_DEPTH = 32  # arrays and objects inside each other; our bodies are one flat object
MAX_DIGITS = 30  # in one number; a float has 17 significant digits, an int we use fewer


def _depth_within(text: str, limit: int) -> bool:
    """Whether no array or object in `text` is nested deeper than `limit` (strings are skipped)."""
    depth, in_string, escaped = 0, False, False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return False
        elif char in "]}":
            depth -= 1
    return True


def _number(text: str, convert):
    if len(text) > MAX_DIGITS:
        raise ParseError(f"A number in the request has more than {MAX_DIGITS} digits.")
    value = convert(text)
    if isinstance(value, float) and not math.isfinite(value):
        raise ParseError("A number in the request is too large.")
    return value


def _constant(name: str):
    raise ParseError(f"{name} is not a number this API accepts.")


class StrictJSONParser(BaseParser):
    """JSON with at most `settings.API_MAX_BODY_BYTES` bytes, `MAX_DEPTH` levels and finite numbers.

    Not a JSONParser subclass on purpose: DRF hands those `request.body`, whose size check raises
    Django's RequestDataTooBig (a 500-style debug page under DEBUG) before the parser could answer;
    any other parser reads the request stream itself, here at most one byte past the limit.
    """

    media_type = "application/json"
    renderer_class = renderers.JSONRenderer

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.API_MAX_BODY_BYTES
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise ParseError(f"The request body is too large (at most {limit} bytes).")
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = codecs.decode(raw, encoding)
        except (UnicodeDecodeError, LookupError) as error:
            raise ParseError(f"The request body is not {encoding} text.") from error
        if not _depth_within(text, MAX_DEPTH):
            raise ParseError(f"The request nests more than {MAX_DEPTH} levels deep.")
        try:
            return json.loads(
                text,
                parse_int=lambda s: _number(s, int),
                parse_float=lambda s: _number(s, float),
                parse_constant=_constant,
            )
        except ValueError as error:  # json.JSONDecodeError and int()'s digit limit
            raise ParseError(f"JSON parse error - {error}") from error
