from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from corrosion import pages
from corrosion.api import views
from corrosion.api.docs import ApiDocsView

urlpatterns = [
    path("", pages.HomeView.as_view(), name="home"),
    path("favicon.ico", pages.favicon, name="favicon"),
    path("admin/", admin.site.urls),
    path("portal/", include("portal.urls")),
    path("api/host/", include("licensing.urls")),
    path("api/host/", include("billing.urls")),
    path("api/host/", include("events.urls")),
    path("api/plugin/", include("licensing.plugin_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", ApiDocsView.as_view(url_name="schema"), name="docs"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
]

handler400 = "corrosion.api.views.bad_request"
handler403 = "corrosion.api.views.permission_denied"
handler404 = "corrosion.api.views.not_found"
handler500 = "corrosion.api.views.server_error"
