from django.urls import path

from licensing import apis

urlpatterns = [
    path("provision", apis.ProvisionApi.as_view(), name="license-provision"),
    path("licenses", apis.LicenseListApi.as_view(), name="license-list"),
    path("licenses/<uuid:license_id>", apis.LicenseDetailApi.as_view(), name="license-detail"),
    path("licenses/<uuid:license_id>/suspend", apis.LicenseSuspendApi.as_view(), name="license-suspend"),
    path("licenses/<uuid:license_id>/resume", apis.LicenseResumeApi.as_view(), name="license-resume"),
    path("licenses/<uuid:license_id>/terminate", apis.LicenseTerminateApi.as_view(), name="license-terminate"),
]
