"""The tag-free, range-capable audio responses behind the volunteers' opaque clip URLs."""

import io
import struct

import numpy as np
import pytest
import soundfile as sf
from django.test import RequestFactory

from studies.volunteer.audio import audio_response, clean_audio

SECRET = "proposed-bilstm-take3"


def tone(seconds: float = 1.0, rate: int = 22050) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[:, None]


def write(path, fmt: str) -> None:
    with sf.SoundFile(str(path), "w", 22050, 1, format=fmt) as handle:
        handle.title = SECRET
        handle.artist = SECRET
        handle.write(tone())


def id3v2(text: str) -> bytes:
    frame_body = b"\x03" + text.encode()
    frame = b"TIT2" + struct.pack(">I", len(frame_body)) + b"\0\0" + frame_body
    size = len(frame)
    syncsafe = bytes([(size >> 21) & 0x7F, (size >> 14) & 0x7F, (size >> 7) & 0x7F, size & 0x7F])
    return b"ID3\x04\x00\x00" + syncsafe + frame


def apev2(text: str) -> bytes:
    item = struct.pack("<II", len(text), 0) + b"Title\0" + text.encode()
    size = len(item) + 32
    footer = b"APETAGEX" + struct.pack("<IIII", 2000, size, 1, 0) + b"\0" * 8
    return item + footer


@pytest.mark.parametrize("fmt", ["MP3", "WAV", "FLAC", "OGG"])
def test_tags_are_gone_and_the_audio_still_decodes(tmp_path, fmt):
    path = tmp_path / f"{SECRET}.{fmt.lower()}"
    write(path, fmt)
    if fmt == "MP3":  # libsndfile writes ID3v1 only: add ID3v2 in front and APEv2 before the ID3v1
        data = path.read_bytes()
        assert data[-128:-125] == b"TAG"
        path.write_bytes(id3v2(SECRET) + data[:-128] + apev2(SECRET) + data[-128:])
    assert SECRET.encode() in path.read_bytes()
    served = clean_audio(path).read()
    assert SECRET.encode() not in served
    assert b"LIST" not in served and b"ID3" not in served and b"APETAGEX" not in served
    samples, rate = sf.read(io.BytesIO(served))
    assert rate == 22050
    assert samples.shape[0] == pytest.approx(22050, abs=1200)  # MP3 adds encoder padding


def test_mp3_keeps_exactly_the_frames(tmp_path):
    path = tmp_path / "a.mp3"
    write(path, "MP3")
    frames = path.read_bytes()[:-128]
    path.write_bytes(id3v2(SECRET) + frames + apev2(SECRET) + path.read_bytes()[-128:])
    assert clean_audio(path).read() == frames


@pytest.fixture
def wav_clip(tmp_path):
    path = tmp_path / f"{SECRET}.wav"
    write(path, "WAV")
    return clean_audio(path)


def get(audio, method="GET", **headers):
    request = getattr(RequestFactory(), method.lower())("/clip", headers=headers)
    response = audio_response(request, audio)
    body = (
        b"".join(response.streaming_content) if hasattr(response, "streaming_content") else response.content
    )
    return response, body


def test_whole_file_with_private_headers_and_no_name(wav_clip):
    response, body = get(wav_clip)
    full = wav_clip.read()
    assert response.status_code == 200 and body == full
    assert response["Content-Length"] == str(len(full))
    assert response["Accept-Ranges"] == "bytes"
    assert response["Cache-Control"] == "private, no-store"
    assert response["Content-Disposition"] == "inline"
    assert response["Content-Type"] == "audio/wav"
    assert SECRET not in str(response.headers)
    assert "Last-Modified" not in response and "ETag" not in response


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [("bytes=0-1", 0, 1), ("bytes=100-", 100, None), ("bytes=-10", -10, None), ("bytes=40-999999", 40, None)],
)
def test_ranges(wav_clip, header, start, end):
    full = wav_clip.read()
    response, body = get(wav_clip, Range=header)
    expected = full[start : (end + 1 if end is not None else None)]
    assert response.status_code == 206 and body == expected
    first = start if start >= 0 else len(full) + start
    assert response["Content-Range"] == f"bytes {first}-{first + len(expected) - 1}/{len(full)}"
    assert response["Content-Length"] == str(len(expected))


def test_range_spanning_the_rebuilt_header_and_the_file(wav_clip):
    full = wav_clip.read()
    response, body = get(wav_clip, Range="bytes=30-70000")
    assert body == full[30:70001]


def test_unsatisfiable_and_multiple_ranges(wav_clip):
    size = wav_clip.size
    response, _ = get(wav_clip, Range=f"bytes={size}-")
    assert response.status_code == 416 and response["Content-Range"] == f"bytes */{size}"
    response, body = get(wav_clip, Range="bytes=0-1,5-6")
    assert response.status_code == 200 and body == wav_clip.read()


def test_head_sends_headers_only(wav_clip):
    response, body = get(wav_clip, method="HEAD", Range="bytes=0-99")
    assert response.status_code == 206 and body == b"" and response["Content-Length"] == "100"
