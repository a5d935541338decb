from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import TemplateView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from docbgm_site import media
from generation.urls import api_urlpatterns as generation_api_urlpatterns
from studies.analysis.urls import api_urlpatterns as analysis_api_urlpatterns
from studies.urls import api_urlpatterns as studies_api_urlpatterns

urlpatterns = [
    path("", TemplateView.as_view(template_name="home.html"), name="home"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("s/", include("studies.volunteer.urls")),
    path("researcher/generation/", include("generation.urls")),
    path("researcher/", include("studies.urls")),
    path("researcher/", include("studies.analysis.urls")),
    path("api/generation/", include((generation_api_urlpatterns, "generation-api"))),
    path("api/", include((studies_api_urlpatterns, "studies-api"))),
    path("api/", include((analysis_api_urlpatterns, "analysis-api"))),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script as a file of its own: no inline script (CSP).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    # Stored files, for staff only, whatever DEBUG says (docbgm_site/media.py).
    path(f"{settings.MEDIA_URL.strip('/')}/<path:name>", media.staff_media, name="media"),
]
