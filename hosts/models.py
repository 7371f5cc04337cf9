import hashlib
import uuid
from decimal import Decimal

from django.db import models
from django.db.models.functions import Lower

from corrosion.db import Immutable, Undeletable

DEFAULT_WHOLESALE_RATE = Decimal("6.00")
# The highest MAX_WHOLESALE_RATE_USD an operator may configure; the database refuses anything above it,
# so a month's total (count x rate) always fits its column, whatever the setting says.
RATE_CEILING_USD = Decimal("100000.00")
COMPANY_NAME_MAX_LENGTH = 200
BILLING_ADDRESS_MAX_LENGTH = 500
TAX_ID_MAX_LENGTH = 64

_RATE_IN_RANGE = models.Q(wholesale_rate_usd__gte=0, wholesale_rate_usd__lte=RATE_CEILING_USD)


class Host(Undeletable):
    """A hosting company that resells Corrosion with the servers it rents out."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    company_name = models.CharField(max_length=COMPANY_NAME_MAX_LENGTH)
    contact_email = models.EmailField(max_length=254)
    # The rate in force now; every change is also kept in HostRate, which billing reads.
    wholesale_rate_usd = models.DecimalField(max_digits=10, decimal_places=2, default=DEFAULT_WHOLESALE_RATE)
    active = models.BooleanField(default=True)
    # Printed on invoices as the buyer; each invoice keeps its own copy, as they were at issue.
    billing_address = models.CharField(max_length=BILLING_ADDRESS_MAX_LENGTH, blank=True, default="", db_default="")
    tax_id = models.CharField("tax id", max_length=TAX_ID_MAX_LENGTH, blank=True, default="", db_default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "hosts"
        ordering = ["company_name"]
        constraints = [
            models.UniqueConstraint(
                Lower("contact_email"),
                name="hosts_contact_email_ci_unique",
                violation_error_message="A host with this e-mail already exists.",
            ),
            models.CheckConstraint(condition=_RATE_IN_RANGE, name="hosts_rate_in_range"),
            models.CheckConstraint(condition=~models.Q(company_name=""), name="hosts_company_name_not_empty"),
        ]

    def __str__(self):
        return self.company_name

    # DRF treats the authenticated principal as request.user; a host is one when its key checks.
    is_authenticated = True


class HostRate(Immutable):
    """The host's wholesale rate from `effective_from` until the next row: the rate history."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    host = models.ForeignKey(Host, on_delete=models.PROTECT, related_name="rates")
    wholesale_rate_usd = models.DecimalField(max_digits=10, decimal_places=2)
    effective_from = models.DateTimeField()

    class Meta:
        db_table = "host_rates"
        ordering = ["host", "-effective_from"]
        constraints = [
            models.UniqueConstraint(fields=["host", "effective_from"], name="host_rates_host_time_unique"),
            models.CheckConstraint(condition=_RATE_IN_RANGE, name="host_rates_in_range"),
        ]

    def __str__(self):
        return f"{self.host} {self.wholesale_rate_usd} from {self.effective_from:%Y-%m-%d %H:%M}"


class HostAPIKey(models.Model):
    """One of a host's API keys, `crn_<key_id>_<secret>` (test: `crn_test_<key_id>_<secret>`),
    stored only as a SHA-256 digest.

    SHA-256 rather than a password hasher: the secret carries 256 random bits, so nothing is
    gained by slowing the check down, and every request pays for it.
    """

    PREFIX = "crn_"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    host = models.ForeignKey(Host, on_delete=models.PROTECT, related_name="api_keys")
    key_id = models.CharField(max_length=8, unique=True)
    # A live key acts on the host's live licenses, a test key on its test ones (its sandbox).
    livemode = models.BooleanField(default=True, db_default=True)
    digest = models.CharField(max_length=64)
    name = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "host_api_keys"
        ordering = ["host", "-created_at"]
        verbose_name = "host API key"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(key_id__regex=r"^[a-z0-9]{8}$"), name="host_api_keys_key_id_format"
            ),
            models.CheckConstraint(
                condition=models.Q(digest__regex=r"^[0-9a-f]{64}$"), name="host_api_keys_digest_format"
            ),
        ]

    def __str__(self):
        return f"{self.key_id} ({self.host}{'' if self.livemode else ', test'})"

    @property
    def mode(self):
        return "live" if self.livemode else "test"

    @property
    def revoked(self):
        return self.revoked_at is not None

    @staticmethod
    def digest_of(raw_key):
        return hashlib.sha256(raw_key.encode()).hexdigest()
