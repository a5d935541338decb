"""The shared HTTP Range parser and responder (docbgm_site/http.py)."""

import io

import pytest
from django.test import RequestFactory

from docbgm_site.http import CHUNK, RangeNotSatisfiable, iter_file_bytes, parse_range, ranged_response


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-99", (0, 99)),
        ("bytes=10-", (10, 999)),
        ("bytes=990-5000", (990, 999)),  # an end past the body is clipped to it
        ("bytes=-100", (900, 999)),
        ("bytes=-5000", (0, 999)),  # a suffix longer than the body is the whole body
        (" bytes=5-5 ", (5, 5)),
        ("bytes=0-1,5-6", None),  # several ranges: the whole body
        ("bytes=0-1, 5-", None),
        ("bytes=" + "9" * 18 + "-", "unsatisfiable"),  # the largest position parsed: past the end
    ],
)
def test_parse_range(header, expected):
    if expected == "unsatisfiable":
        with pytest.raises(RangeNotSatisfiable):
            parse_range(header, 1000)
    else:
        assert parse_range(header, 1000) == expected


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=1000-2000", "bytes=50-10", "bytes=-0"])
def test_unsatisfiable_ranges_raise(header):
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, 1000)


MALFORMED = [
    "bytes=" + "1" * 5000 + "-",  # the probe: int() refuses over 4300 digits (ValueError)
    "bytes=-" + "1" * 5000,
    "bytes=0-" + "1" * 19,
    "bytes=-",
    "bytes=a-b",
    "bytes=0-1,",
    "bytes=0-1," * 100 + "0-1",  # far longer than any browser's header
    "items=0-5",
    "garbage",
    "",
]


@pytest.mark.parametrize("header", MALFORMED, ids=lambda h: h[:20] + f"..{len(h)}")
def test_a_malformed_range_is_unsatisfiable_never_an_error(header):
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, 1000)
    response, _, _ = respond(Range=header)
    assert response.status_code == 416 and response["Content-Range"] == "bytes */200"
    assert response.content == b""


def test_nothing_in_an_empty_body_is_satisfiable():
    with pytest.raises(RangeNotSatisfiable):
        parse_range("bytes=0-", 0)


def test_iter_file_bytes_reads_in_chunks_and_notices_a_short_file():
    data = bytes(range(256)) * (CHUNK // 64)  # four chunks
    blocks = list(iter_file_bytes(io.BytesIO(data), 7, 3 * CHUNK))
    assert b"".join(blocks) == data[7 : 7 + 3 * CHUNK]
    assert max(len(b) for b in blocks) == CHUNK
    with pytest.raises(OSError, match="clip.wav is shorter than expected"):
        list(iter_file_bytes(io.BytesIO(b"abc"), 0, 10, name="clip.wav"))


def respond(method="GET", **headers):
    body = bytes(range(200))
    request = getattr(RequestFactory(), method.lower())("/x", headers=headers)
    response = ranged_response(
        request, size=len(body), read_range=lambda s, e: [body[s : e + 1]], content_type="audio/mpeg"
    )
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return response, body, content


def test_ranged_response_200_206_416():
    response, body, content = respond()
    assert response.status_code == 200 and content == body and "Content-Range" not in response
    assert response["Content-Length"] == "200" and response["Accept-Ranges"] == "bytes"
    response, body, content = respond(Range="bytes=0-99")
    assert response.status_code == 206 and content == body[:100]
    assert response["Content-Range"] == "bytes 0-99/200" and response["Content-Length"] == "100"
    response, _, _ = respond(Range="bytes=200-")
    assert response.status_code == 416 and response["Content-Range"] == "bytes */200"
    assert response["Accept-Ranges"] == "bytes"


def test_head_reads_nothing():
    response, _, content = respond("HEAD", Range="bytes=-10")
    assert response.status_code == 206 and content == b"" and response["Content-Length"] == "10"
    assert "Cache-Control" not in response and "Content-Disposition" not in response
