"""Researcher pages (mounted at /researcher/generation/) and the generation API (`api_urlpatterns`, at /api/generation/)."""

from django.urls import path

from generation import apis, views

app_name = "generation"

urlpatterns = [
    path("", views.generation_home, name="home"),
    path("checkpoints/upload/", views.checkpoint_upload, name="checkpoint-upload"),
    path("sets/request/", views.stimulus_set_request, name="set-request"),
    path("sets/<int:pk>/", views.stimulus_set_detail, name="set-detail"),
    path("sets/<int:pk>/status.json", views.stimulus_set_status, name="set-status"),
    path("stimuli/<int:pk>/audio.<str:kind>", views.stimulus_audio, name="stimulus-audio"),
]

api_urlpatterns = [
    path("checkpoints/", apis.CheckpointApi.as_view(), name="checkpoints"),
    path("stimulus-sets/", apis.StimulusSetApi.as_view(), name="stimulus-sets"),
    path("stimulus-sets/<int:pk>/", apis.StimulusSetStatusApi.as_view(), name="stimulus-set-status"),
]
