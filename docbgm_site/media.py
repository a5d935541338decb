"""/media/: stored files for staff only, with DEBUG on or off (the admin's file links point here).

Nothing under MEDIA_URL is public. Volunteers hear their clips through opaque per-trial URLs that
check the trial is theirs (studies/volunteer/views.py); researchers play and download stimuli through
generation's views, which check that they are researchers. This view is for the admin's links: a
staff account gets the file (never cached, as an attachment); anyone else gets the same 404 as
for a path that does not exist, so probing names teaches nothing.
"""

from pathlib import PurePosixPath

from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import default_storage
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_http_methods

from docbgm_site.http import iter_file_bytes, ranged_response

CONTENT_TYPES = {
    ".mp3": "audio/mpeg",
    ".flac": "audio/flac",
    ".wav": "audio/wav",
    ".mid": "audio/midi",
    ".json": "application/json",
}


@require_http_methods(["GET", "HEAD"])
def staff_media(request: HttpRequest, name: str) -> HttpResponse:
    if not (request.user.is_authenticated and request.user.is_active and request.user.is_staff):
        raise Http404
    try:
        if not default_storage.exists(name):
            raise Http404
        size = default_storage.size(name)
    except (SuspiciousFileOperation, ValueError) as error:  # "../", absolute paths, NUL bytes
        raise Http404 from error

    def read_range(start: int, end: int):
        with default_storage.open(name, "rb") as handle:
            yield from iter_file_bytes(handle, start, end - start + 1, name=name)

    suffix = PurePosixPath(name).suffix.lower()
    response = ranged_response(
        request,
        size=size,
        read_range=read_range,
        content_type=CONTENT_TYPES.get(suffix, "application/octet-stream"),
    )
    response["Cache-Control"] = "private, no-store"
    response["Content-Disposition"] = content_disposition_header(True, PurePosixPath(name).name)
    response["X-Content-Type-Options"] = "nosniff"
    return response
