from django.urls import path

from licensing import apis

urlpatterns = [
    path("provision", apis.ProvisionApi.as_view(), name="license-provision"),
    path("licenses", apis.LicenseListApi.as_view(), name="license-list"),
    path("licenses/<uuid:license_id>", apis.LicenseDetailApi.as_view(), name="license-detail"),
]
