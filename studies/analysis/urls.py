"""Analysis URLs, included at the site root with full paths (researcher pages and API)."""

from django.urls import path

from . import views

app_name = "analysis"

urlpatterns = [
    path("researcher/studies/<slug:slug>/export.zip", views.export_download, name="export"),
    path("researcher/studies/<slug:slug>/analysis/summary.json", views.summary_json, name="summary"),
    path(
        "researcher/studies/<slug:slug>/analysis/summary.html",
        views.summary_fragment,
        name="summary-fragment",
    ),
    path("api/studies/<slug:slug>/analysis/export.zip", views.AnalysisExportApi.as_view(), name="api-export"),
    path("api/studies/<slug:slug>/analysis/summary/", views.AnalysisSummaryApi.as_view(), name="api-summary"),
]
