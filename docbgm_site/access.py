"""Who may use the researcher side, for every app: pages, REST API and analysis downloads.

One definition for the whole site: generation's and studies' researcher pages use
`researcher_required`, their APIs `IsResearcher`, and services or selectors that need the check
(studies.selectors.study_for_user) call `user_is_researcher`.
"""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission

# Members of this group (and staff) are researchers; seed_demo and the factories create it.
RESEARCHER_GROUP = "researcher"


def user_is_researcher(user) -> bool:
    """Staff, or an active member of the "researcher" group."""
    if not user.is_authenticated or not user.is_active:
        return False
    return user.is_staff or user.groups.filter(name=RESEARCHER_GROUP).exists()


def researcher_required(view):
    """Anonymous visitors go to the login page; users who are not researchers get 403."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not user_is_researcher(request.user):
            raise PermissionDenied("Only researchers can see these pages.")
        return view(request, *args, **kwargs)

    return wrapped


class IsResearcher(BasePermission):
    message = "Only researchers can use this endpoint."

    def has_permission(self, request, view) -> bool:
        return user_is_researcher(request.user)
