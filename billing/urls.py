from django.urls import path

from billing import apis

urlpatterns = [
    path("billing", apis.BillingListApi.as_view(), name="billing-list"),
    # Before the JSON path, whose <str:month> would take "2026-05.csv" as the month.
    path("billing/<str:month>.csv", apis.BillingMonthCsvApi.as_view(), name="billing-month-csv"),
    path("billing/<str:month>", apis.BillingMonthApi.as_view(), name="billing-month"),
    path("invoices", apis.InvoiceListApi.as_view(), name="invoice-list"),
    # Before the JSON path, whose <str:number> would take "INV-2026-00001.pdf" as the number.
    path("invoices/<str:number>.pdf", apis.InvoicePdfApi.as_view(), name="invoice-pdf"),
    path("invoices/<str:number>", apis.InvoiceApi.as_view(), name="invoice"),
]
