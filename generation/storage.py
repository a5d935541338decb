"""Stored file names that say nothing: no condition, model, item, position or original name.

A stored path used to read `stimuli/audio/bilstm-v1/09-<item>.mp3`: computable from the public code,
and one error page or one listing away from a volunteer. Every audio, MIDI and checkpoint file is
now stored as `<folder>/<32 hex digits><suffix>`:

- `opaque_name(folder, suffix, *key)` with a key (the stimulus build: set id, kind, position) is
  an HMAC-SHA256 of the key under SECRET_KEY, so a build that died half-way finds and replaces its
  own files while nobody without the secret can compute them;
- without a key (uploads, imports, anything saved through a FileField) it is a random uuid4.

Files are served only through views that check who asks (studies/volunteer/views.py for a
volunteer's own trials, generation/views.py for researchers); nothing under MEDIA_URL is public.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from pathlib import PurePosixPath

from django.conf import settings
from django.utils.deconstruct import deconstructible


def opaque_name(folder: str, suffix: str, *key: object) -> str:
    """`folder/<hex><suffix>`: an HMAC of `key` under SECRET_KEY, or random when no key is given."""
    if key:
        message = "\x1f".join(str(part) for part in key).encode()
        digest = hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()[:32]
    else:
        digest = uuid.uuid4().hex
    return f"{folder.rstrip('/')}/{digest}{suffix}"


@deconstructible
class OpaqueUploadTo:
    """A FileField's `upload_to`: the file keeps its suffix and nothing else of its given name."""

    def __init__(self, folder: str):
        self.folder = folder

    def __call__(self, instance, filename: str) -> str:
        return opaque_name(self.folder, PurePosixPath(filename).suffix.lower()[:16])

    def __eq__(self, other) -> bool:
        return isinstance(other, OpaqueUploadTo) and other.folder == self.folder
