"""The partner portal's pages. Each reads the host from the signed-in membership (never from the
URL or a form), and changes state only through the services the API and the admin use."""

import functools
from datetime import date

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout as auth_logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers, patch_cache_control
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST
from rest_framework import serializers as drf_serializers

from audit.services import Actor
from billing.apis import BillingMonthApi
from billing.documents import invoice_content, invoice_pdf
from billing.models import Invoice, InvoiceStatus
from billing.months import month_format, month_of, month_parse, month_start
from billing.selectors import (
    bill_for,
    bills_for_months,
    closed_months_for_host,
    invoice_for_host,
    invoice_lines,
    invoices_for_host,
)
from corrosion.api.pagination import KeysetPagination
from corrosion.api.renderers import csv_response, pdf_response
from corrosion.errors import DomainError, ErrorCode
from events.models import EVENT_TYPES
from events.selectors import deliveries_for_endpoint, delivery_for_endpoint, endpoint_for_host, endpoints_for_host
from events.services import delivery_retry, endpoint_create, endpoint_disable
from hosts.models import HostAPIKey
from hosts.services import api_key_issue, api_key_revoke
from licensing.models import LicenseStatus
from licensing.selectors import is_online, licenses_for_host, online_q, online_since
from licensing.services import license_resume, license_suspend, license_terminate
from portal.forms import EmailLoginForm, InviteForm, KeyIssueForm
from portal.selectors import membership_for_user, memberships_for_host
from portal.services import (
    ensure_host_active,
    invitation_accept,
    invitation_create,
    invitation_for_token,
    membership_remove,
    public_base_url,
)

PAGE_SIZE = 50
_MODE_KEY = "portal_livemode"
_NEW_KEY = "portal_new_key"


def _error_page(request, status, title, message):
    return render(request, "portal/error.html", {"title": title, "message": message}, status=status)


def portal_page(view=None, *, owner=False):
    """Signed in, a partner user (a membership), and an owner where `owner`; sets request.membership,
    request.host and request.livemode. A refused change or an unknown id is a page, never a 500."""

    def wrap(view):
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect(f"{reverse('portal:login')}?next={request.path}")
            membership = membership_for_user(request.user)
            if membership is None:
                return _error_page(
                    request, 403, "Not a partner account", "This sign-in has no partner portal: staff use the admin."
                )
            request.membership, request.host = membership, membership.host
            request.livemode = request.session.get(_MODE_KEY, True)
            if owner and not membership.is_owner:
                return _error_page(request, 403, "Owners only", "Only the account's owners can open this page.")
            try:
                response = view(request, *args, **kwargs)
            except Http404:
                return _error_page(request, 404, "Not found", "There is nothing here, or it is not yours to see.")
            except PermissionDenied as exc:
                return _error_page(request, 403, "Not allowed", str(exc) or "You may not do this.")
            add_never_cache_headers(response)
            return response

        return wrapper

    return wrap(view) if view is not None else wrap


def _portal_path(request, target):
    """`target` when it is one of the portal's own paths, else the dashboard: an open redirect would
    lend our sign-in page to a phishing site."""
    safe = url_has_allowed_host_and_scheme(target, allowed_hosts=set(), require_https=request.is_secure())
    return target if safe and target.startswith("/portal/") else reverse("portal:dashboard")


def _actor(request):
    return Actor.partner(request.user)


# --- Sign-in, invitations ----------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def login_view(request):
    form = EmailLoginForm(request, data=request.POST or None)
    if request.method == "POST" and form.is_valid():
        auth_login(request, form.get_user())
        return redirect(_portal_path(request, request.GET.get("next", "")))
    email = form["email"].value() or request.COOKIES.get("portal_email", "")
    return render(request, "portal/login.html", {"form": form, "email": email})


def locked_out(request, original_response=None, credentials=None):
    """django-axes' answer to a locked-out address (AXES_LOCKOUT_CALLABLE), on the admin's login too."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    message = f"Too many failed sign-ins from your address: try again in {minutes} minutes, or reset your password."
    if request.path.startswith("/portal/"):
        response = _error_page(request, 429, "Too many attempts", message)
    else:
        response = HttpResponse(message, content_type="text/plain; charset=utf-8", status=429)
    response["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    return response


class PasswordResetView(auth_views.PasswordResetView):
    def form_valid(self, form):
        # Links on PUBLIC_BASE_URL, never on the Host header a request may forge.
        self.extra_email_context = {"base_url": public_base_url()}
        return super().form_valid(form)


@require_POST
def logout_view(request):
    auth_logout(request)
    return redirect("portal:login")


@require_http_methods(["GET", "POST"])
def accept_invitation(request, token):
    try:
        invitation = invitation_for_token(token)
    except DomainError as exc:
        return _error_page(request, 404, "Invitation not valid", exc.message)
    errors = []
    if request.method == "POST":
        password, again = request.POST.get("password", ""), request.POST.get("password_again", "")
        if password != again:
            errors.append("The two passwords differ.")
        else:
            try:
                validate_password(password)
            except ValidationError as exc:
                errors.extend(exc.messages)
        if not errors:
            try:
                membership = invitation_accept(token=token, password=password)
            except DomainError as exc:
                return _error_page(request, 409, "Invitation not valid", exc.message)
            messages.success(request, "Your password is set: sign in with your e-mail and it.")
            response = redirect(f"{reverse('portal:login')}")
            response.set_cookie("portal_email", membership.user.email, max_age=600, samesite="Lax", httponly=True)
            return response
    response = render(request, "portal/accept_invitation.html", {"invitation": invitation, "errors": errors})
    patch_cache_control(response, no_store=True)
    return response


# --- Mode, dashboard ---------------------------------------------------------------------------


@require_POST
@portal_page
def switch_mode(request):
    request.session[_MODE_KEY] = request.POST.get("mode") != "test"
    return redirect(_portal_path(request, request.POST.get("next", "")))


@portal_page
def dashboard(request):
    host, livemode = request.host, request.livemode
    licenses = licenses_for_host(host=host, livemode=livemode)
    counts = dict(licenses.order_by().values_list("status").annotate(n=Count("pk")))
    online = licenses.filter(online_q(online_since())).count()
    this_month = month_of(timezone.now())
    try:
        bill = bill_for(host=host, month=this_month, livemode=livemode)
    except DomainError:
        bill = None
    invoices = invoices_for_host(host=host) if livemode else Invoice.objects.none()
    latest_invoice = invoices.order_by("-issued_at").first()
    outstanding = list(invoices.filter(status=InvoiceStatus.OPEN).order_by("due_date")) if livemode else []
    context = {
        "counts": [(status.label, counts.get(status.value, 0)) for status in LicenseStatus],
        "online": online,
        "bill": bill,
        "latest_invoice": latest_invoice,
        "outstanding": outstanding,
    }
    return render(request, "portal/dashboard.html", context)


# --- Licenses ----------------------------------------------------------------------------------


def _search_filters(query):
    """One search box, each kind of value matched exactly (so every search is index-backed, even for
    a host of 100,000 licenses): a license key, an e-mail, or a server id or hostname."""
    query = query.strip()
    if not query:
        return {}, None
    if query.upper().startswith("CRN-"):
        return {"license_key": query.upper()}, None
    if "@" in query:
        return {"customer_email": query}, None
    return {}, Q(server_identifier=query) | Q(license__hostname__iexact=query)


class _Page:
    def __init__(self, rows, paginator, request):
        self.rows = rows
        self.next = _page_link(request, paginator.next_cursor)
        self.previous = _page_link(request, paginator.previous_cursor)


def _page_link(request, cursor):
    if cursor is None:
        return None
    params = request.GET.copy()
    params["cursor"] = cursor
    return f"?{params.urlencode()}"


def _keyset_page(request, queryset, time_field, *, id_field="id", parse_value=None):
    """The API's keyset pages (corrosion.api.pagination): every page one index range scan."""
    kwargs = {"id_field": id_field}
    if parse_value is not None:
        kwargs["parse_value"] = parse_value
    paginator = KeysetPagination(time_field, **kwargs)
    cursor = request.GET.get("cursor") or None
    paginator.query = {"page_size": PAGE_SIZE, **({"cursor": cursor[:200]} if cursor else {})}
    try:
        rows = paginator.paginate(queryset, request)
    except drf_serializers.ValidationError:
        raise Http404 from None
    return _Page(rows, paginator, request)


@portal_page
def license_list(request):
    query = request.GET.get("q", "")
    status = request.GET.get("status", "")
    filters, search = _search_filters(query)
    if status in LicenseStatus.values:
        filters["status"] = status
    licenses = licenses_for_host(host=request.host, livemode=request.livemode, filters=filters)
    if search is not None:
        licenses = licenses.filter(search)
    page = _keyset_page(request, licenses, "provisioned_at", id_field="license_id")
    since = online_since()
    rows = [(row, is_online(row, since)) for row in page.rows]
    context = {"page": page, "rows": rows, "q": query, "status": status, "statuses": LicenseStatus.choices}
    return render(request, "portal/licenses.html", context)


def _host_license(request, license_id):
    host_license = (
        licenses_for_host(host=request.host, livemode=request.livemode)
        .filter(license_id=license_id)
        .defer(None)
        .first()
    )
    if host_license is None:
        raise Http404
    return host_license


@portal_page
def license_detail(request, license_id):
    host_license = _host_license(request, license_id)
    history = host_license.license.status_changes.order_by("-sequence")
    context = {
        "hl": host_license,
        "license": host_license.license,
        "online": is_online(host_license, online_since()),
        "history": history,
        "actions": _actions_for(host_license.status),
    }
    response = render(request, "portal/license.html", context)
    patch_cache_control(response, no_store=True)  # it shows the license key and companion token
    return response


_DONE = {"suspend": "Suspended.", "resume": "Resumed.", "terminate": "Terminated."}

_LICENSE_ACTIONS = {
    "suspend": (
        "Suspend",
        license_suspend,
        "The server's plugin stops validating until you resume it. Billing goes on.",
    ),
    "resume": ("Resume", license_resume, "The server's plugin validates again."),
    "terminate": (
        "Terminate",
        license_terminate,
        "Final: the license stops for good, and its server id is free for a new license. Billing stops after this month.",
    ),
}


def _actions_for(status):
    return {
        LicenseStatus.ACTIVE: ["suspend", "terminate"],
        LicenseStatus.SUSPENDED: ["resume", "terminate"],
    }.get(status, [])


@require_http_methods(["GET", "POST"])
@portal_page
def license_action(request, license_id, action):
    if action not in _LICENSE_ACTIONS:
        raise Http404
    host_license = _host_license(request, license_id)
    label, service, explanation = _LICENSE_ACTIONS[action]
    if request.method == "POST":
        try:
            ensure_host_active(request.host)
            service(host_license=host_license, actor=_actor(request))
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _DONE[action])
        return redirect("portal:license", license_id=license_id)
    context = {"hl": host_license, "action": action, "label": label, "explanation": explanation}
    return render(request, "portal/license_confirm.html", context)


# --- Bills and invoices ------------------------------------------------------------------------


@portal_page
def bill_list(request):
    months = closed_months_for_host(host=request.host, livemode=request.livemode)
    page = _keyset_page(request, months, "month", parse_value=date.fromisoformat)
    bills = bills_for_months(host=request.host, months=page.rows)
    current = month_of(timezone.now())
    return render(request, "portal/bills.html", {"page": page, "bills": bills, "current": month_format(current)})


def _bill(request, month):
    try:
        parsed = month_parse(month)
    except ValueError:
        raise Http404 from None
    if month_start(parsed) > timezone.now():
        raise Http404
    try:
        return bill_for(host=request.host, month=parsed, livemode=request.livemode)
    except DomainError as exc:
        if exc.code == ErrorCode.BILL_NOT_FOUND:
            raise Http404 from None
        raise


@portal_page
def bill_detail(request, month):
    bill = _bill(request, month)
    return render(request, "portal/bill.html", {"bill": bill, "month": month})


@portal_page
def bill_csv(request, month):
    bill = _bill(request, month)
    # The API's own rows (billing.apis), so the portal's file and the API's are the same file.
    rows = BillingMonthApi()._csv_rows(bill)
    return csv_response(rows, filename=f"corrosion-billing-{month_format(bill.month)}.csv")


def _invoice(request, number):
    if not request.livemode:
        raise Http404  # test mode has no invoices
    try:
        return invoice_for_host(host=request.host, number=number)
    except DomainError:
        raise Http404 from None


@portal_page
def invoice_list(request):
    invoices = invoices_for_host(host=request.host) if request.livemode else Invoice.objects.none()
    page = _keyset_page(request, invoices, "issued_at")
    return render(request, "portal/invoices.html", {"page": page})


@portal_page
def invoice_detail(request, number):
    invoice = _invoice(request, number)
    content = invoice_content(invoice)
    return render(
        request, "portal/invoice.html", {"invoice": invoice, "content": content, "lines": invoice_lines(invoice)}
    )


@portal_page
def invoice_pdf_view(request, number):
    invoice = _invoice(request, number)
    return pdf_response(invoice_pdf(invoice), filename=f"{invoice.number}.pdf")


# --- Owners: API keys, team --------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@portal_page(owner=True)
def key_list(request):
    form = KeyIssueForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            ensure_host_active(request.host)
            issued = api_key_issue(
                host=request.host,
                actor=_actor(request),
                name=form.cleaned_data["name"],
                livemode=form.cleaned_data["mode"] == "live",
            )
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            # Shown once: kept in the session for the next page only, popped as it is shown.
            request.session[_NEW_KEY] = issued.raw_key
            return redirect("portal:keys")
    new_key = request.session.pop(_NEW_KEY, None)
    keys = HostAPIKey.objects.filter(host=request.host).order_by("-created_at")
    response = render(request, "portal/keys.html", {"form": form, "keys": keys, "new_key": new_key})
    patch_cache_control(response, no_store=True)
    return response


@require_http_methods(["GET", "POST"])
@portal_page(owner=True)
def key_revoke(request, key_id):
    api_key = HostAPIKey.objects.filter(host=request.host, key_id=key_id).first()
    if api_key is None:
        raise Http404
    if request.method == "POST":
        try:
            ensure_host_active(request.host)
            api_key_revoke(key_id=api_key.key_id, actor=_actor(request))
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"Key {api_key.key_id} revoked.")
        return redirect("portal:keys")
    return render(request, "portal/key_revoke.html", {"key": api_key})


@require_http_methods(["GET", "POST"])
@portal_page(owner=True)
def team(request):
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            ensure_host_active(request.host)
            sent = invitation_create(
                host=request.host,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                actor=_actor(request),
            )
        except DomainError as exc:
            form.add_error("email", exc.message)
        else:
            messages.success(request, f"Invitation e-mailed to {sent.invitation.email}.")
            return redirect("portal:team")
    members = memberships_for_host(host=request.host)
    return render(request, "portal/team.html", {"form": form, "members": members})


@require_http_methods(["GET", "POST"])
@portal_page(owner=True)
def member_remove(request, membership_id):
    member = memberships_for_host(host=request.host).filter(pk=membership_id).first()
    if member is None:
        raise Http404
    if request.method == "POST":
        try:
            ensure_host_active(request.host)
            membership_remove(host=request.host, membership_id=member.pk, actor=_actor(request))
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"{member.user.email} removed.")
        return redirect("portal:team")
    return render(request, "portal/member_remove.html", {"member": member})


# --- Owners: webhook endpoints -----------------------------------------------------------------

_NEW_SECRET = "portal_new_webhook_secret"


@require_http_methods(["GET", "POST"])
@portal_page(owner=True)
def webhook_list(request):
    errors, url, description, chosen = [], "", "", []
    if request.method == "POST":
        url = request.POST.get("url", "").strip()
        description = request.POST.get("description", "").strip()[:200]
        chosen = [name for name in request.POST.getlist("events") if name in (*EVENT_TYPES, "*")]
        events = ["*"] if "*" in chosen or not chosen else chosen
        try:
            ensure_host_active(request.host)
            if not url:
                raise DomainError(ErrorCode.INVALID, "Enter the endpoint's URL.")
            endpoint = endpoint_create(
                host=request.host,
                url=url,
                events=events,
                livemode=request.livemode,
                actor=_actor(request),
                description=description,
            )
        except DomainError as exc:
            errors.append(exc.message)
        else:
            # Shown once, as a key is: popped from the session by the page it is shown on.
            request.session[_NEW_SECRET] = [str(endpoint.pk), endpoint.secret]
            return redirect("portal:webhook", endpoint_id=endpoint.pk)
    endpoints = endpoints_for_host(host=request.host, livemode=request.livemode).order_by("-created_at")
    context = {
        "endpoints": endpoints,
        "event_types": EVENT_TYPES,
        "errors": errors,
        "url": url,
        "description": description,
        "chosen": chosen,
    }
    return render(request, "portal/webhooks.html", context)


def _endpoint(request, endpoint_id):
    endpoint = endpoint_for_host(host=request.host, livemode=request.livemode, endpoint_id=endpoint_id)
    if endpoint is None:
        raise Http404
    return endpoint


@portal_page(owner=True)
def webhook_detail(request, endpoint_id):
    endpoint = _endpoint(request, endpoint_id)
    new = request.session.pop(_NEW_SECRET, None)
    secret = new[1] if new and new[0] == str(endpoint.pk) else None
    page = _keyset_page(request, deliveries_for_endpoint(endpoint=endpoint), "created_at")
    response = render(request, "portal/webhook.html", {"endpoint": endpoint, "secret": secret, "page": page})
    patch_cache_control(response, no_store=True)
    return response


@require_http_methods(["GET", "POST"])
@portal_page(owner=True)
def webhook_disable(request, endpoint_id):
    endpoint = _endpoint(request, endpoint_id)
    if request.method == "POST":
        try:
            ensure_host_active(request.host)
            endpoint_disable(endpoint=endpoint, actor=_actor(request))
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "Endpoint disabled: nothing more is sent to it; its deliveries stay listed.")
        return redirect("portal:webhook", endpoint_id=endpoint.pk)
    return render(request, "portal/webhook_disable.html", {"endpoint": endpoint})


@require_http_methods(["GET", "POST"])
@portal_page(owner=True)
def webhook_retry(request, endpoint_id, delivery_id):
    endpoint = _endpoint(request, endpoint_id)
    delivery = delivery_for_endpoint(endpoint=endpoint, delivery_id=delivery_id)
    if delivery is None:
        raise Http404
    if request.method == "POST":
        try:
            ensure_host_active(request.host)
            delivery_retry(delivery=delivery, actor=_actor(request))
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"Delivery of {delivery.event.public_id} queued to be sent again now.")
        return redirect("portal:webhook", endpoint_id=endpoint.pk)
    return render(request, "portal/webhook_retry.html", {"endpoint": endpoint, "delivery": delivery})
