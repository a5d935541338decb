"""Request guards that must run before any view, form or middleware reads the body."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _


class VolunteerBodyLimitMiddleware:
    """A volunteer page's POST larger than `settings.VOLUNTEER_MAX_BODY_BYTES` gets a 400 page.

    The consent form is a few hundred bytes. Without this, a huge body reaches Django's
    DATA_UPLOAD_MAX_MEMORY_SIZE check inside the CSRF middleware, whose 400 is a debug page with a
    traceback while DEBUG is on. The volunteer API (`/s/<slug>/api/`) is left to its JSON parser
    (docbgm_site/parsers.py), which answers in the API's error shape.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/s/") and "/api/" not in request.path:
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0  # Django reads nothing of a body whose length it cannot parse
            if length > settings.VOLUNTEER_MAX_BODY_BYTES:
                return render(
                    request,
                    "studies/volunteer/message.html",
                    {
                        "heading": _("Something went wrong"),
                        "message": _("The request was too large. Please go back and try again."),
                        "step": "message",
                    },
                    status=400,
                )
        return self.get_response(request)
