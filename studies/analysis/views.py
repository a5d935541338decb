"""Downloads and live results of the analysis: researcher pages and the REST API.

The zip (every table, figure and report.html) is for staff only: anyone else, signed in or not,
gets 403, because it holds every listener's ratings. The live summary is for whoever may see the
study (its researcher owner, or staff).
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.permissions import IsAdminUser, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from docbgm_site.access import user_is_researcher
from studies import selectors
from studies.models import Study

from .export import export_zip
from .live import study_live_results


def _zip_response(study: Study) -> HttpResponse:
    response = HttpResponse(export_zip(study), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{study.slug}-analysis.zip"'
    response["Cache-Control"] = "no-store"
    return response


def summary_payload(study: Study) -> dict:
    return {"study": study.slug, **study_live_results(study)["live"]}


@require_GET
def export_download(request, slug: str):
    """GET /researcher/studies/<slug>/export.zip (staff only)."""
    user = request.user
    if not (user.is_authenticated and user.is_active and user.is_staff):
        raise PermissionDenied("Only staff can download the analyses.")
    return _zip_response(get_object_or_404(Study, slug=slug))


def _visible_study(request, slug: str) -> Study:
    if not user_is_researcher(request.user):
        raise PermissionDenied("Only researchers can see results.")
    study = selectors.study_for_user(slug=slug, user=request.user)
    if study is None:
        raise Http404("No such study.")
    return study


@require_GET
def summary_json(request, slug: str):
    """GET /researcher/studies/<slug>/analysis/summary.json: the live MOS table (study researchers)."""
    return JsonResponse(summary_payload(_visible_study(request, slug)))


@require_GET
def summary_fragment(request, slug: str):
    """GET /researcher/studies/<slug>/analysis/summary.html: the study page's live table and bar
    chart as an HTML fragment, which the page swaps in when its progress poll sees new ratings."""
    study = _visible_study(request, slug)
    context = {"study": study, **study_live_results(study)}
    response = render(request, "studies/analysis/_summary_table.html", context)
    response["Cache-Control"] = "no-store"
    return response


class AnalysisExportApi(APIView):
    """The analysis zip of a study (staff only)."""

    permission_classes = [IsAuthenticated, IsAdminUser]

    @extend_schema(
        operation_id="study_analysis_export",
        responses={(200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY, description="The zip")},
    )
    def get(self, request, slug: str):
        return _zip_response(get_object_or_404(Study, slug=slug))


class AnalysisSummaryApi(APIView):
    """The live summary of a study: screening counts and the MOS table after screening."""

    permission_classes = [IsAuthenticated]

    @extend_schema(operation_id="study_analysis_summary", responses={200: OpenApiTypes.OBJECT})
    def get(self, request, slug: str):
        return Response(summary_payload(_visible_study(request, slug)))
