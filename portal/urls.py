from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from portal import views
from portal.forms import PartnerPasswordResetForm

app_name = "portal"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path(
        "password-reset/",
        views.PasswordResetView.as_view(
            form_class=PartnerPasswordResetForm,
            template_name="portal/password_reset.html",
            email_template_name="portal/password_reset_email.txt",
            subject_template_name="portal/password_reset_subject.txt",
            success_url=reverse_lazy("portal:password_reset_sent"),
        ),
        name="password_reset",
    ),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(template_name="portal/password_reset_sent.html"),
        name="password_reset_sent",
    ),
    path(
        "password-reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            template_name="portal/password_reset_confirm.html", success_url=reverse_lazy("portal:password_reset_done")
        ),
        name="password_reset_confirm",
    ),
    path(
        "password-reset/done/",
        auth_views.PasswordResetCompleteView.as_view(template_name="portal/password_reset_done.html"),
        name="password_reset_done",
    ),
    path("invitations/<str:token>/", views.accept_invitation, name="accept_invitation"),
    path("mode/", views.switch_mode, name="mode"),
    path("licenses/", views.license_list, name="licenses"),
    path("licenses/<uuid:license_id>/", views.license_detail, name="license"),
    path("licenses/<uuid:license_id>/<str:action>/", views.license_action, name="license_action"),
    path("bills/", views.bill_list, name="bills"),
    path("bills/<str:month>.csv", views.bill_csv, name="bill_csv"),
    path("bills/<str:month>/", views.bill_detail, name="bill"),
    path("invoices/", views.invoice_list, name="invoices"),
    path("invoices/<str:number>.pdf", views.invoice_pdf_view, name="invoice_pdf"),
    path("invoices/<str:number>/", views.invoice_detail, name="invoice"),
    path("keys/", views.key_list, name="keys"),
    path("keys/<str:key_id>/revoke/", views.key_revoke, name="key_revoke"),
    path("webhooks/", views.webhook_list, name="webhooks"),
    path("webhooks/<uuid:endpoint_id>/", views.webhook_detail, name="webhook"),
    path("webhooks/<uuid:endpoint_id>/disable/", views.webhook_disable, name="webhook_disable"),
    path("webhooks/<uuid:endpoint_id>/deliveries/<uuid:delivery_id>/retry/", views.webhook_retry, name="webhook_retry"),
    path("team/", views.team, name="team"),
    path("team/<uuid:membership_id>/remove/", views.member_remove, name="member_remove"),
]
