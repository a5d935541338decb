"""Audio for volunteers: tag-free bytes behind opaque URLs, with HTTP Range support.

Blinding rules what a volunteer's browser may learn from a clip: no file name (no
Content-Disposition filename, no storage URL), no tags inside the bytes (ID3, APE, RIFF LIST,
FLAC Vorbis comments and pictures could carry a model name or a source title), and nothing a
shared cache could hand to someone else (`Cache-Control: private, no-store`). Safari insists on
Range requests for <audio>, so ranges are answered with 206 and Content-Range.

A clip is described as a list of segments (bytes we built, or a slice of the stored file), so a
range request reads only what it needs and large files are never loaded whole.
"""

import contextlib
import io
import struct
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf
from django.http import HttpRequest, HttpResponse

from docbgm_site.http import iter_file_bytes, ranged_response

NO_STORE = "private, no-store"


@dataclass(frozen=True)
class FileSlice:
    offset: int
    length: int


Segment = bytes | FileSlice


@dataclass(frozen=True)
class CleanAudio:
    """A clip's served representation: the concatenation of `segments`, all tags removed."""

    path: Path | None  # the stored file the FileSlice segments read from (None: bytes only)
    content_type: str
    segments: tuple[Segment, ...]

    @property
    def size(self) -> int:
        return sum(len(s) if isinstance(s, bytes) else s.length for s in self.segments)

    def iter_range(self, start: int, end: int):
        """Yield the bytes start..end (inclusive) of the representation, in chunks."""
        position = 0
        needs_file = any(isinstance(s, FileSlice) for s in self.segments)
        with self.path.open("rb") if needs_file else contextlib.nullcontext() as handle:
            for segment in self.segments:
                length = len(segment) if isinstance(segment, bytes) else segment.length
                lo, hi = max(start, position), min(end + 1, position + length)
                if lo < hi:
                    if isinstance(segment, bytes):
                        yield segment[lo - position : hi - position]
                    else:
                        offset = segment.offset + lo - position
                        yield from iter_file_bytes(handle, offset, hi - lo, name=self.path.name)
                position += length

    def read(self) -> bytes:
        return b"".join(self.iter_range(0, self.size - 1)) if self.size else b""


def _syncsafe(data: bytes) -> int:
    return (data[0] << 21) | (data[1] << 14) | (data[2] << 7) | data[3]


def _skip_id3v2(handle, offset: int = 0) -> int:
    """The offset after any ID3v2 tags starting at `offset` (several may follow each other).

    Reads only the 10-byte tag headers, never the tags: a clip's request costs what it sends.
    """
    while True:
        handle.seek(offset)
        header = handle.read(10)
        if len(header) < 10 or header[:3] != b"ID3":
            return offset
        footer = 10 if header[5] & 0x10 else 0
        offset += 10 + _syncsafe(header[6:10]) + footer


def _mp3(path: Path) -> CleanAudio:
    size = path.stat().st_size
    with path.open("rb") as handle:
        start = min(_skip_id3v2(handle), size)
        end = size
        # Trailing tags, in the order they are written: [APEv2] [ID3v1].
        handle.seek(max(0, end - 128))
        if end - start >= 128 and handle.read(3) == b"TAG":
            end -= 128
        if end - start >= 32:
            handle.seek(end - 32)
            footer = handle.read(32)
            if footer[:8] == b"APETAGEX":
                tag_size, flags = struct.unpack("<II", footer[12:20])
                end -= tag_size + (32 if flags & 0x80000000 else 0)
    return CleanAudio(path, "audio/mpeg", (FileSlice(start, max(0, end - start)),))


def _wav(path: Path) -> CleanAudio:
    """Keep only the `fmt ` and `data` chunks of a RIFF/WAVE file (drops LIST/INFO, id3, bext...)."""
    with path.open("rb") as handle:
        riff = handle.read(12)
        if riff[:4] != b"RIFF" or riff[8:12] != b"WAVE":
            raise ValueError(f"{path.name} is not a RIFF/WAVE file")
        fmt, data = None, None
        while True:
            header = handle.read(8)
            if len(header) < 8:
                break
            chunk_id, length = header[:4], struct.unpack("<I", header[4:])[0]
            body_offset = handle.tell()
            if chunk_id == b"fmt ":
                fmt = header + handle.read(length)
            elif chunk_id == b"data":
                data = FileSlice(body_offset, min(length, path.stat().st_size - body_offset))
            handle.seek(body_offset + length + (length & 1))
    if fmt is None or data is None:
        raise ValueError(f"{path.name} has no fmt or data chunk")
    if len(fmt) & 1:
        fmt += b"\0"
    data_header = b"data" + struct.pack("<I", data.length)
    riff_size = 4 + len(fmt) + len(data_header) + data.length
    prefix = b"RIFF" + struct.pack("<I", riff_size) + b"WAVE" + fmt + data_header
    return CleanAudio(path, "audio/wav", (prefix, data))


def _flac(path: Path) -> CleanAudio:
    """Keep STREAMINFO and SEEKTABLE; drop Vorbis comments, pictures, application blocks."""
    with path.open("rb") as handle:
        handle.seek(_skip_id3v2(handle))
        if handle.read(4) != b"fLaC":
            raise ValueError(f"{path.name} is not a FLAC file")
        kept: list[tuple[int, bytes]] = []
        while True:
            header = handle.read(4)
            last, block_type = header[0] & 0x80, header[0] & 0x7F
            length = int.from_bytes(header[1:4], "big")
            body = handle.read(length)
            if block_type in (0, 3):  # STREAMINFO, SEEKTABLE
                kept.append((block_type, body))
            if last:
                break
        frames = handle.tell()
    blocks = b"".join(
        bytes([(0x80 if i == len(kept) - 1 else 0) | t]) + len(b).to_bytes(3, "big") + b
        for i, (t, b) in enumerate(kept)
    )
    return CleanAudio(path, "audio/flac", (b"fLaC" + blocks, FileSlice(frames, path.stat().st_size - frames)))


def generated_wav(data: bytes) -> CleanAudio:
    """A WAV made in memory (the headphone-check sounds), served like a clip."""
    return CleanAudio(None, "audio/wav", (data,))


def _transcoded(path: Path) -> CleanAudio:
    """Formats whose tags are woven into the stream (Ogg): decode and serve plain PCM WAV."""
    samples, rate = sf.read(str(path), dtype="int16", always_2d=True)
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format="WAV", subtype="PCM_16")
    return CleanAudio(path, "audio/wav", (buffer.getvalue(),))


def clean_audio(path: Path) -> CleanAudio:
    """The tag-free representation of an audio file, chosen by its content, not its name."""
    path = Path(path)
    with path.open("rb") as handle:
        head = handle.read(4)
        handle.seek(_skip_id3v2(handle))
        after_id3 = handle.read(4)
    if head == b"RIFF":
        return _wav(path)
    if after_id3 == b"fLaC":
        return _flac(path)
    if head[:4] == b"OggS":
        return _transcoded(path)
    return _mp3(path)


def audio_response(request: HttpRequest, audio: CleanAudio) -> HttpResponse:
    """200 or 206 (or 416) for GET/HEAD of `audio`, with headers that keep it private and nameless."""
    response = ranged_response(
        request, size=audio.size, read_range=audio.iter_range, content_type=audio.content_type
    )
    response["Cache-Control"] = NO_STORE
    response["Content-Disposition"] = "inline"
    response["X-Content-Type-Options"] = "nosniff"
    return response
