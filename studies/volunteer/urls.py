"""Volunteer URLs, mounted at /s/ (docbgm_site/urls.py). Only the study slug and opaque trial, page and
clip ids appear."""

from django.urls import path

from studies.volunteer import api, views

app_name = "volunteer"

urlpatterns = [
    path("<slug:slug>/", views.entry, name="entry"),
    path("<slug:slug>/go/", views.session, name="session"),
    path("<slug:slug>/sound/tone/", views.tone, name="tone"),
    path("<slug:slug>/sound/check/", views.huggins, name="huggins"),
    path("<slug:slug>/clip/<str:public_id>/", views.clip, name="clip"),
    path("<slug:slug>/api/state/", api.StateApi.as_view(), name="api-state"),
    path("<slug:slug>/api/volume/", api.VolumeCheckApi.as_view(), name="api-volume"),
    path("<slug:slug>/api/headphones/<int:number>/", api.HeadphoneAnswerApi.as_view(), name="api-headphones"),
    path("<slug:slug>/api/trials/<str:public_id>/events/", api.TrialEventApi.as_view(), name="api-events"),
    path("<slug:slug>/api/trials/<str:public_id>/rating/", api.RatingApi.as_view(), name="api-rating"),
    path("<slug:slug>/api/clips/<str:public_id>/events/", api.ClipEventApi.as_view(), name="api-clip-events"),
    path(
        "<slug:slug>/api/pages/<str:public_id>/answer/", api.PageAnswerApi.as_view(), name="api-page-answer"
    ),
]
