"""HTTP Range (RFC 9110 section 14) for byte sources of known size: one implementation for every app.

Safari will not play an <audio> element whose server ignores Range, and every browser needs it to
seek, so the volunteers' clips and the researchers' files are both answered with 206 and
Content-Range. Only single ranges are honoured; a well-formed multi-range request gets the whole
body, which RFC 9110 allows. Anything else in a Range header (another unit, garbage, positions of
more than 18 digits, which no file reaches) is answered 416: a malformed header never reaches
int() with a number Python refuses to parse, so it can never become a 500 (the issue's probe sent
5000 digits and got a debug page naming the stored file). The caller adds its own caching and
naming headers on top.
"""

import re
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

CHUNK = 64 * 1024
MAX_HEADER = 200  # characters; a real browser's Range header is a few dozen
POSITION = r"\d{0,18}"  # 10^18 bytes is more than any file; int() of it is always safe
RANGE_RE = re.compile(rf"^bytes=({POSITION})-({POSITION})$")
MULTI_RANGE_RE = re.compile(rf"^bytes={POSITION}-{POSITION}(?:\s*,\s*{POSITION}-{POSITION})+$")


class RangeNotSatisfiable(Exception):
    """The Range header names no byte of the body (answered with 416)."""


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """The inclusive (start, end) that `header` asks for out of `size` bytes, or None for all of them.

    Raises:
        RangeNotSatisfiable: the range starts past the end, ends before it starts, is an empty
            suffix, or the header is not a well-formed byte range (malformed).
    """
    header = header.strip()
    match = RANGE_RE.match(header) if len(header) <= MAX_HEADER else None
    if match is None:
        if len(header) <= MAX_HEADER and MULTI_RANGE_RE.match(header):
            return None  # several ranges: RFC 9110 lets us answer with the whole body
        raise RangeNotSatisfiable(header[:MAX_HEADER])
    if not match[1] and not match[2]:
        raise RangeNotSatisfiable(header)
    if match[1]:
        start = int(match[1])
        end = min(int(match[2]), size - 1) if match[2] else size - 1
        if start >= size or end < start:
            raise RangeNotSatisfiable(header)
        return start, end
    suffix = int(match[2])
    if suffix == 0:
        raise RangeNotSatisfiable(header)
    return max(0, size - suffix), size - 1


def iter_file_bytes(handle: BinaryIO, offset: int, length: int, *, name: str = "file") -> Iterator[bytes]:
    """Yield `length` bytes of an open file from `offset`, CHUNK at a time (never the whole file)."""
    handle.seek(offset)
    remaining = length
    while remaining > 0:
        block = handle.read(min(CHUNK, remaining))
        if not block:
            raise OSError(f"{name} is shorter than expected")
        remaining -= len(block)
        yield block


def ranged_response(
    request: HttpRequest,
    *,
    size: int,
    read_range: Callable[[int, int], Iterable[bytes]],
    content_type: str,
) -> HttpResponse:
    """200, 206 or 416 for GET/HEAD of a body of `size` bytes; `read_range(start, end)` is inclusive.

    Sets Content-Length, Content-Range and Accept-Ranges; nothing about caching or file names.
    """
    try:
        wanted = parse_range(request.headers["Range"], size) if "Range" in request.headers else None
    except RangeNotSatisfiable:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
    else:
        start, end = wanted if wanted else (0, size - 1)
        body = iter(()) if request.method == "HEAD" or size == 0 else read_range(start, end)
        response = StreamingHttpResponse(body, status=206 if wanted else 200, content_type=content_type)
        response["Content-Length"] = str(end - start + 1 if size else 0)
        if wanted:
            response["Content-Range"] = f"bytes {start}-{end}/{size}"
    response["Accept-Ranges"] = "bytes"
    return response
