import re
import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import audit_record
from corrosion.errors import DomainError, ErrorCode
from corrosion.money import has_cents_only
from hosts.keys import generate_key_id, generate_raw_key
from hosts.models import (
    BILLING_ADDRESS_MAX_LENGTH,
    COMPANY_NAME_MAX_LENGTH,
    DEFAULT_WHOLESALE_RATE,
    TAX_ID_MAX_LENGTH,
    Host,
    HostAPIKey,
    HostRate,
)

KEY_ID_FORMAT = re.compile(r"[a-z0-9]{8}")
CONTACT_EMAIL_MAX_LENGTH = Host._meta.get_field("contact_email").max_length
KEY_NAME_MAX_LENGTH = HostAPIKey._meta.get_field("name").max_length


@dataclass(frozen=True)
class IssuedKey:
    """A freshly issued key: the only moment the raw key exists outside the caller's hands."""

    api_key: HostAPIKey
    raw_key: str


def _invalid(field, message):
    return DomainError(ErrorCode.INVALID, message, fields={field: [message]})


def validate_rate(value) -> Decimal:
    """A wholesale rate exactly as given, or DomainError: 0.00 to MAX_WHOLESALE_RATE_USD, at most two
    decimal places. Never rounded: 6.005 is a typo to ask about, not 6.01 to bill."""
    try:
        rate = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        raise _invalid("wholesale_rate_usd", f"{value!r} is not a number: write a rate like 6.00.") from None
    maximum = settings.MAX_WHOLESALE_RATE_USD
    if not rate.is_finite() or not Decimal(0) <= rate <= maximum:
        raise _invalid("wholesale_rate_usd", f"The wholesale rate must be from 0.00 to {maximum} USD.")
    if not has_cents_only(rate):
        raise _invalid("wholesale_rate_usd", f"{value} has more than two decimal places: give the rate in cents.")
    return rate.quantize(Decimal("0.01"))


def _has_control_characters(text):
    # A NUL is refused by PostgreSQL itself (a crash, not an answer); no name needs any of them.
    return any(unicodedata.category(character) == "Cc" for character in text)


def validate_company_name(value) -> str:
    name = (value or "").strip()
    if not name or len(name) > COMPANY_NAME_MAX_LENGTH:
        raise _invalid("company_name", f"The company name must be 1 to {COMPANY_NAME_MAX_LENGTH} characters.")
    if _has_control_characters(name):
        raise _invalid("company_name", "The company name must not contain control characters.")
    return name


def validate_billing_address(value) -> str:
    """Lines of an address, as printed on invoices: new lines kept (tabs and other controls refused)."""
    lines = [line.strip() for line in (value or "").replace("\r\n", "\n").split("\n")]
    address = "\n".join(line for line in lines if line)
    if len(address) > BILLING_ADDRESS_MAX_LENGTH:
        raise _invalid(
            "billing_address", f"The billing address must be at most {BILLING_ADDRESS_MAX_LENGTH} characters."
        )
    if _has_control_characters(address.replace("\n", "")):
        raise _invalid("billing_address", "The billing address must not contain control characters.")
    return address


def validate_tax_id(value) -> str:
    tax_id = (value or "").strip()
    if len(tax_id) > TAX_ID_MAX_LENGTH:
        raise _invalid("tax_id", f"The tax id must be at most {TAX_ID_MAX_LENGTH} characters.")
    if _has_control_characters(tax_id):
        raise _invalid("tax_id", "The tax id must not contain control characters.")
    return tax_id


def validate_contact_email(value, *, exclude_host=None) -> str:
    email = (value or "").strip()
    try:
        validate_email(email)
    except ValidationError:
        raise _invalid("contact_email", f"{value!r} is not an e-mail address.") from None
    if len(email) > CONTACT_EMAIL_MAX_LENGTH:
        raise _invalid("contact_email", f"The contact e-mail must be at most {CONTACT_EMAIL_MAX_LENGTH} characters.")
    taken = Host.objects.filter(contact_email__iexact=email)
    if exclude_host is not None:
        taken = taken.exclude(pk=exclude_host.pk)
    if taken.exists():
        raise _email_taken(email)
    return email


def validate_key_name(value) -> str:
    name = (value or "").strip()
    if len(name) > KEY_NAME_MAX_LENGTH or _has_control_characters(name):
        raise _invalid(
            "name", f"A key's name must be at most {KEY_NAME_MAX_LENGTH} characters, with no control characters."
        )
    return name


def _email_taken(email):
    message = f"A host with the e-mail {email} already exists."
    return DomainError(ErrorCode.HOST_EMAIL_TAKEN, message, fields={"contact_email": [message]})


@transaction.atomic
def host_create(*, company_name, contact_email, actor, wholesale_rate_usd=DEFAULT_WHOLESALE_RATE, key_name="initial"):
    """Create a host, its first rate-history row and its first API key."""
    rate = validate_rate(wholesale_rate_usd)
    company_name = validate_company_name(company_name)
    contact_email = validate_contact_email(contact_email)
    now = timezone.now()
    try:
        with transaction.atomic():
            host = Host.objects.create(company_name=company_name, contact_email=contact_email, wholesale_rate_usd=rate)
    except IntegrityError:
        raise _email_taken(contact_email) from None  # created meanwhile: the unique index decides
    HostRate.objects.create(host=host, wholesale_rate_usd=rate, effective_from=now)
    audit_record(
        actor=actor,
        action="host.created",
        target=host,
        data={"company_name": company_name, "contact_email": contact_email, "wholesale_rate_usd": str(rate)},
        occurred_at=now,
    )
    issued = api_key_issue(host=host, name=key_name, actor=actor)
    return host, issued


@transaction.atomic
def host_update(
    *,
    host,
    actor,
    wholesale_rate_usd=None,
    active=None,
    company_name=None,
    contact_email=None,
    billing_address=None,
    tax_id=None,
):
    """Change a host; a rate change is kept in the rate history with its time. The billing address
    and tax id reach only invoices issued after the change: each invoice keeps its own copy."""
    host = Host.objects.select_for_update().get(pk=host.pk)
    now = timezone.now()
    changes = {}
    if wholesale_rate_usd is not None:
        rate = validate_rate(wholesale_rate_usd)
        if rate != host.wholesale_rate_usd:
            changes["wholesale_rate_usd"] = [str(host.wholesale_rate_usd), str(rate)]
            host.wholesale_rate_usd = rate
            HostRate.objects.create(host=host, wholesale_rate_usd=rate, effective_from=now)
    if active is not None and active != host.active:
        changes["active"] = [host.active, active]
        host.active = active
    if company_name is not None:
        company_name = validate_company_name(company_name)
    if company_name is not None and company_name != host.company_name:
        changes["company_name"] = [host.company_name, company_name]
        host.company_name = company_name
    if contact_email is not None and contact_email != host.contact_email:
        contact_email = validate_contact_email(contact_email, exclude_host=host)
        changes["contact_email"] = [host.contact_email, contact_email]
        host.contact_email = contact_email
    if billing_address is not None:
        billing_address = validate_billing_address(billing_address)
        if billing_address != host.billing_address:
            changes["billing_address"] = [host.billing_address, billing_address]
            host.billing_address = billing_address
    if tax_id is not None:
        tax_id = validate_tax_id(tax_id)
        if tax_id != host.tax_id:
            changes["tax_id"] = [host.tax_id, tax_id]
            host.tax_id = tax_id
    if not changes:
        return host
    try:
        with transaction.atomic():
            host.save()
    except IntegrityError:
        raise _email_taken(host.contact_email) from None  # taken meanwhile: the unique index decides
    audit_record(actor=actor, action="host.updated", target=host, data=changes, occurred_at=now)
    return host


@transaction.atomic
def api_key_issue(*, host, actor, name="", livemode=True):
    """Issue a new key, live or test (`crn_test_…`, the host's sandbox); the raw key is returned
    once and never stored."""
    name = validate_key_name(name)
    # A key id clash (1 in 36^8 per pair) is retried; the unique index is what catches it.
    for _ in range(5):
        key_id = generate_key_id()
        raw_key = generate_raw_key(key_id, livemode=livemode)
        try:
            with transaction.atomic():
                api_key = HostAPIKey.objects.create(
                    host=host, key_id=key_id, digest=HostAPIKey.digest_of(raw_key), name=name, livemode=livemode
                )
            break
        except IntegrityError:
            continue
    else:
        raise DomainError(ErrorCode.SERVICE_UNAVAILABLE, "Could not find a free key id; try again.", retry_after=1)
    audit_record(
        actor=actor,
        action="api_key.issued",
        target=host,
        data={"key_id": key_id, "name": name, "livemode": livemode},
    )
    return IssuedKey(api_key=api_key, raw_key=raw_key)


@transaction.atomic
def api_key_revoke(*, key_id, actor):
    """Revoke a key for good; revoking a revoked key changes nothing."""
    not_found = DomainError(ErrorCode.API_KEY_NOT_FOUND, f"No API key with the id {key_id!r}.")
    if not KEY_ID_FORMAT.fullmatch(str(key_id)):
        raise not_found  # no such key can exist, and a NUL would make PostgreSQL refuse the query
    try:
        api_key = HostAPIKey.objects.select_for_update().select_related("host").get(key_id=key_id)
    except HostAPIKey.DoesNotExist:
        raise not_found from None
    if api_key.revoked_at is not None:
        return api_key
    api_key.revoked_at = timezone.now()
    api_key.save(update_fields=["revoked_at"])
    audit_record(
        actor=actor,
        action="api_key.revoked",
        target=api_key.host,
        data={"key_id": key_id},
        occurred_at=api_key.revoked_at,
    )
    return api_key


def api_key_touch(*, api_key):
    """Note that a key was used, at most once every API_KEY_LAST_USED_RESOLUTION_SECONDS.

    Called on every authenticated request, so it writes nothing when the recorded time is fresh.
    """
    now = timezone.now()
    resolution = timedelta(seconds=settings.API_KEY_LAST_USED_RESOLUTION_SECONDS)
    if api_key.last_used_at is None or now - api_key.last_used_at >= resolution:
        HostAPIKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
