from django.urls import path

from billing import apis

urlpatterns = [
    path("billing", apis.BillingListApi.as_view(), name="billing-list"),
    # Before the JSON path, whose <str:month> would take "2026-05.csv" as the month.
    path("billing/<str:month>.csv", apis.BillingMonthCsvApi.as_view(), name="billing-month-csv"),
    path("billing/<str:month>", apis.BillingMonthApi.as_view(), name="billing-month"),
]
