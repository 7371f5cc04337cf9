from django.urls import path

from billing import apis

urlpatterns = [
    path("billing", apis.BillingListApi.as_view(), name="billing-list"),
    path("billing/<str:month>", apis.BillingMonthApi.as_view(), name="billing-month"),
]
