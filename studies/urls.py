"""Researcher pages (mounted at /researcher/) and the researcher API (`api_urlpatterns`, at /api/)."""

from django.contrib.auth import views as auth_views
from django.urls import path

from studies import apis, views

app_name = "researcher"

urlpatterns = [
    path("", views.study_list, name="study-list"),
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="researcher/login.html", redirect_authenticated_user=True),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(next_page="researcher:login"), name="logout"),
    path("studies/new/", views.study_create, name="study-create"),
    path("studies/<slug:slug>/", views.study_detail, name="study-detail"),
    path("studies/<slug:slug>/progress.json", views.study_progress, name="study-progress"),
    path("studies/<slug:slug>/open/", views.study_open, name="study-open"),
    path("studies/<slug:slug>/close/", views.study_close, name="study-close"),
]

api_urlpatterns = [
    path("studies/", apis.StudyListApi.as_view(), name="study-list"),
    path("studies/<slug:slug>/", apis.StudyDetailApi.as_view(), name="study-detail"),
    path("studies/<slug:slug>/open/", apis.StudyOpenApi.as_view(), name="study-open"),
    path("studies/<slug:slug>/close/", apis.StudyCloseApi.as_view(), name="study-close"),
    path("studies/<slug:slug>/progress/", apis.StudyProgressApi.as_view(), name="study-progress"),
]
