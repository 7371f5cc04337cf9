import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Round
from django.utils import timezone

from corrosion.db import Immutable, Undeletable
from hosts.models import Host
from licensing.models import License, LicenseStatus

TOTAL_MAX_DIGITS = 18


class BillStatus(models.TextChoices):
    CLOSED = "closed", "Closed"
    OPEN = "open", "Open (computed live)"
    # A test key's bill: its test licenses by the same rule, computed live, never closed or billed.
    TEST = "test", "Test mode (computed live, never billed)"


class BillingMonth(Immutable):
    """The closed-month register: one row per month closed for every host at once."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    month = models.DateField(unique=True)
    closed_at = models.DateTimeField()
    # "<actor type>:<actor name>", e.g. "command:close_billing_month"; the audit event has the rest.
    closed_by = models.CharField(max_length=200)

    class Meta:
        db_table = "billing_months"
        ordering = ["-month"]
        permissions = [("close_billing_month", "Can close billing months")]
        constraints = [
            models.CheckConstraint(condition=Q(month__day=1), name="billing_months_first_day"),
        ]

    def __str__(self):
        return f"{self.month:%Y-%m} closed {self.closed_at:%Y-%m-%d %H:%M}"


class BillingRecord(Immutable):
    """A host's bill for one closed month; never changed once written."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    host = models.ForeignKey(Host, on_delete=models.PROTECT, related_name="billing_records")
    billing_month = models.DateField()
    # The seed's name; it counts billable servers, suspended ones included.
    active_license_count = models.IntegerField()
    wholesale_rate_usd = models.DecimalField(max_digits=10, decimal_places=2)
    # Room for the largest count (a 32-bit integer) times the largest rate the database allows
    # (hosts.models.RATE_CEILING_USD, 100000.00): 2,147,483,647 x 100,000.00 has 15 digits before
    # the point, so no valid input can make a month impossible to close.
    total_amount_usd = models.DecimalField(max_digits=TOTAL_MAX_DIGITS, decimal_places=2)
    generated_at = models.DateTimeField()

    class Meta:
        db_table = "host_billing_records"
        ordering = ["-billing_month", "-id"]
        permissions = [("export_billing", "Can export billing as CSV")]
        constraints = [
            models.UniqueConstraint(fields=["host", "billing_month"], name="host_billing_records_host_month_unique"),
            models.CheckConstraint(condition=Q(billing_month__day=1), name="host_billing_records_first_day"),
            models.CheckConstraint(condition=Q(active_license_count__gte=0), name="host_billing_records_count_gte_0"),
            models.CheckConstraint(condition=Q(wholesale_rate_usd__gte=0), name="host_billing_records_rate_gte_0"),
            models.CheckConstraint(condition=Q(total_amount_usd__gte=0), name="host_billing_records_total_gte_0"),
            # corrosion.money.money_round, repeated in SQL as a constraint must be. SQLite multiplies
            # decimals as floats (3 * 6.10 = 18.299999...); PostgreSQL's numeric product of a 2-place
            # rate is exact, so there the round changes nothing.
            models.CheckConstraint(
                condition=Q(total_amount_usd=Round(F("active_license_count") * F("wholesale_rate_usd"), 2)),
                name="host_billing_records_total_is_count_times_rate",
            ),
        ]

    def __str__(self):
        return f"{self.host} {self.billing_month:%Y-%m}: {self.total_amount_usd} USD"


# A line describes its month: the status at the month's end is `terminated` exactly when the
# license was terminated within the month, which is when the line has a termination time.
_LINE_TERMINATED_HAS_TIME = Q(status=LicenseStatus.TERMINATED, terminated_at__isnull=False) | (
    ~Q(status=LicenseStatus.TERMINATED) & Q(terminated_at__isnull=True)
)


def _line_constraints(table):
    return [
        models.UniqueConstraint(fields=["record", "server_id"], name=f"{table}_record_server_unique"),
        models.CheckConstraint(condition=Q(status__in=LicenseStatus.values), name=f"{table}_status_valid"),
        models.CheckConstraint(condition=_LINE_TERMINATED_HAS_TIME, name=f"{table}_terminated_at_matches_status"),
    ]


class LineCopy(Immutable):
    """A server of a closed month: a copy, taken at closing, of its last license held in the month,
    as it stood at the month's end."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    server_id = models.CharField(max_length=255)
    license_key = models.CharField(max_length=64)
    hostname = models.CharField(max_length=255)
    customer_email = models.EmailField(max_length=254)
    status = models.CharField(max_length=16, choices=LicenseStatus.choices)
    provisioned_at = models.DateTimeField()
    terminated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    def __str__(self):
        return f"{self.record} / {self.server_id}"


class BillingLine(LineCopy):
    """One billed server of a record."""

    record = models.ForeignKey(BillingRecord, on_delete=models.PROTECT, related_name="lines")
    license = models.ForeignKey(License, on_delete=models.PROTECT, related_name="billing_lines")

    class Meta:
        db_table = "host_billing_lines"
        ordering = ["record", "server_id"]
        constraints = _line_constraints("host_billing_lines")


class BillingWaivedLine(LineCopy):
    """One server of a record that the grace rule waived (all its licenses in the month were free
    mistakes): kept so staff and the host see what was not billed. Never counted or billed."""

    record = models.ForeignKey(BillingRecord, on_delete=models.PROTECT, related_name="waived_lines")
    license = models.ForeignKey(License, on_delete=models.PROTECT, related_name="waived_billing_lines")

    class Meta:
        db_table = "host_billing_waived_lines"
        ordering = ["record", "server_id"]
        constraints = _line_constraints("host_billing_waived_lines")


# --- Value types: what the billing reads and the close hand back (not tables) ----------------------


@dataclass(frozen=True)
class Bill:
    """A host's bill for one month, closed (from its record) or open (computed live)."""

    month: date
    status: str
    active_license_count: int
    wholesale_rate_usd: Decimal
    total_amount_usd: Decimal
    lines: Iterable = field(default_factory=list)
    waived_lines: Iterable = field(default_factory=list)
    # The month's invoice number (closed months invoiced from the close on); None otherwise.
    invoice: str | None = None
    generated_at: datetime | None = None


@dataclass(frozen=True)
class SummaryRow:
    host_id: object
    company_name: str
    active_license_count: int
    wholesale_rate_usd: Decimal
    total_amount_usd: Decimal


@dataclass(frozen=True)
class CloseSummary:
    """What closing a month did (or, for a dry run or a month already closed, would do / did)."""

    class Outcome:
        CLOSED = "closed"
        ALREADY_CLOSED = "already_closed"
        DRY_RUN = "dry_run"

    month: date
    outcome: str
    rows: list[SummaryRow]
    closed_at: datetime | None
    # The invoices this close issued, as (number, company name, total), in number order.
    invoices: list = field(default_factory=list)

    @property
    def host_count(self) -> int:
        return len(self.rows)

    @property
    def server_count(self) -> int:
        return sum(row.active_license_count for row in self.rows)

    @property
    def total_amount_usd(self) -> Decimal:
        return sum((row.total_amount_usd for row in self.rows), Decimal("0.00"))


# --- Invoices ----------------------------------------------------------------------------------------

INVOICE_NUMBER_PATTERN = r"^INV-[0-9]{4}-[0-9]{5,}$"


class InvoiceStatus(models.TextChoices):
    OPEN = "open", "Open"
    PAID = "paid", "Paid"
    VOID = "void", "Void"


class InvoiceNumberSequence(models.Model):
    """The last invoice number given in a year of issue: the counter behind gapless numbers.

    The close increments it inside its own transaction, holding the row's lock until it commits: a
    second closer waits, and a close that fails or is rolled back gives its numbers back with it.
    """

    year = models.PositiveIntegerField(primary_key=True)
    last = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "invoice_number_sequences"
        ordering = ["year"]

    def __str__(self):
        return f"{self.year}: {self.last}"


class Invoice(Undeletable):
    """The document a host pays: one per billing record above 0.00, issued with the month's close.

    Its amounts, lines (its record's) and the parties' copies never change; only its status moves,
    once, from open to paid or void.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    number = models.CharField(max_length=24, unique=True)
    # The number's parts, so gaplessness and order are checked in SQL (billing/integrity.py).
    year = models.PositiveIntegerField()
    sequence = models.PositiveIntegerField()
    record = models.OneToOneField(BillingRecord, on_delete=models.PROTECT, related_name="invoice")
    host = models.ForeignKey(Host, on_delete=models.PROTECT, related_name="invoices")
    billing_month = models.DateField()
    issued_at = models.DateTimeField()
    due_date = models.DateField()
    currency = models.CharField(max_length=3, default="USD")
    active_license_count = models.IntegerField()
    wholesale_rate_usd = models.DecimalField(max_digits=10, decimal_places=2)
    total_amount_usd = models.DecimalField(max_digits=TOTAL_MAX_DIGITS, decimal_places=2)
    status = models.CharField(max_length=8, choices=InvoiceStatus.choices, default=InvoiceStatus.OPEN)
    paid_at = models.DateField(null=True, blank=True)
    payment_reference = models.CharField(max_length=200, blank=True, default="")
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.CharField(max_length=1000, blank=True, default="")
    issuer_name = models.CharField(max_length=200)
    issuer_address = models.CharField(max_length=1000, blank=True, default="")
    buyer_company_name = models.CharField(max_length=200)
    buyer_contact_email = models.EmailField(max_length=254)
    buyer_billing_address = models.CharField(max_length=500, blank=True, default="")
    buyer_tax_id = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        db_table = "invoices"
        ordering = ["-issued_at", "-sequence"]
        permissions = [
            ("mark_invoice_paid", "Can mark invoices paid"),
            ("void_invoice", "Can void invoices"),
        ]
        indexes = [models.Index(fields=["host", "-issued_at", "-id"], name="invoices_host_issued")]
        constraints = [
            models.UniqueConstraint(fields=["year", "sequence"], name="invoices_year_sequence_unique"),
            models.CheckConstraint(condition=Q(number__regex=INVOICE_NUMBER_PATTERN), name="invoices_number_format"),
            models.CheckConstraint(condition=Q(sequence__gte=1), name="invoices_sequence_gte_1"),
            models.CheckConstraint(condition=Q(billing_month__day=1), name="invoices_first_day"),
            models.CheckConstraint(condition=Q(currency="USD"), name="invoices_currency_usd"),
            models.CheckConstraint(condition=Q(active_license_count__gt=0), name="invoices_count_gt_0"),
            models.CheckConstraint(condition=Q(total_amount_usd__gt=0), name="invoices_total_gt_0"),
            models.CheckConstraint(condition=Q(status__in=InvoiceStatus.values), name="invoices_status_valid"),
            # Paid needs its date and reference, void its reason and time; an open invoice has neither.
            models.CheckConstraint(
                condition=(
                    Q(status=InvoiceStatus.OPEN, paid_at__isnull=True, payment_reference="", voided_at__isnull=True)
                    & Q(void_reason="")
                )
                | (
                    Q(status=InvoiceStatus.PAID, paid_at__isnull=False, voided_at__isnull=True, void_reason="")
                    & ~Q(payment_reference="")
                )
                | (
                    Q(status=InvoiceStatus.VOID, paid_at__isnull=True, payment_reference="", voided_at__isnull=False)
                    & ~Q(void_reason="")
                ),
                name="invoices_status_fields",
            ),
        ]

    def __str__(self):
        return self.number

    @property
    def overdue(self) -> bool:
        return self.status == InvoiceStatus.OPEN and self.due_date < timezone.now().date()
