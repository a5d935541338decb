"""Analysis URLs: researcher pages (`urlpatterns`, mounted at /researcher/) and the REST API
(`api_urlpatterns`, mounted at /api/ as "analysis-api")."""

from django.urls import path

from . import views

app_name = "analysis"

urlpatterns = [
    path("studies/<slug:slug>/export.zip", views.export_download, name="export"),
    path("studies/<slug:slug>/analysis/summary.json", views.summary_json, name="summary"),
    path("studies/<slug:slug>/analysis/summary.html", views.summary_fragment, name="summary-fragment"),
]

api_urlpatterns = [
    path("studies/<slug:slug>/analysis/export.zip", views.AnalysisExportApi.as_view(), name="export"),
    path("studies/<slug:slug>/analysis/summary/", views.AnalysisSummaryApi.as_view(), name="summary"),
]
