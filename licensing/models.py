import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Upper

from audit.models import AuditEvent
from corrosion.db import Immutable, Undeletable
from hosts.models import Host
from licensing.keys import TEST_KEY_PREFIX


class LicenseStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"
    TERMINATED = "terminated", "Terminated"


_STATUS_VALID = Q(status__in=LicenseStatus.values)
# A test license's key says so (CRN-TEST-...), and only a test license's key does.
_KEY_PREFIX_MATCHES_MODE = Q(livemode=True) & ~Q(license_key__startswith=TEST_KEY_PREFIX) | Q(
    livemode=False, license_key__startswith=TEST_KEY_PREFIX
)
# Terminated exactly when it has a termination time: billing reads terminated_at.
_TERMINATED_HAS_TIME = Q(status=LicenseStatus.TERMINATED, terminated_at__isnull=False) | (
    ~Q(status=LicenseStatus.TERMINATED) & Q(terminated_at__isnull=True)
)


class License(Undeletable):
    """A Corrosion license: the key the plugin runs with, for one customer's server."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    license_key = models.CharField(max_length=64, unique=True)
    # Pairs the companion app with the server; a second secret, never accepted by this API.
    companion_token = models.CharField(max_length=64, unique=True)
    customer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="licenses")
    hostname = models.CharField(max_length=255)
    subdomain = models.SlugField(max_length=63, unique=True)
    status = models.CharField(max_length=16, choices=LicenseStatus.choices, default=LicenseStatus.ACTIVE)
    # Live (billed) or test (the host's sandbox, never billed). A database default, so a release
    # that predates the column can still insert rows while the new one rolls out.
    livemode = models.BooleanField(default=True, db_default=True)
    provisioned_at = models.DateTimeField()
    suspended_at = models.DateTimeField(null=True, blank=True)
    resumed_at = models.DateTimeField(null=True, blank=True)
    terminated_at = models.DateTimeField(null=True, blank=True)
    status_changed_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "licenses"
        ordering = ["-provisioned_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=_STATUS_VALID, name="licenses_status_valid"),
            models.CheckConstraint(condition=_TERMINATED_HAS_TIME, name="licenses_terminated_at_matches_status"),
            models.CheckConstraint(condition=_KEY_PREFIX_MATCHES_MODE, name="licenses_key_prefix_matches_mode"),
        ]
        indexes = [
            # The host API's `?hostname=` filter, which ignores case (Django's iexact is UPPER(...) = UPPER(...)).
            models.Index(Upper("hostname"), name="licenses_hostname_upper_idx"),
        ]

    def __str__(self):
        return self.license_key


class HostLicense(Undeletable):
    """A license as one host holds it, for one of its servers.

    `status`, `terminated_at` and `livemode` copy the license's, because the database can only
    enforce "one non-terminated license per server of a host in each mode" on columns of this table.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    host = models.ForeignKey(Host, on_delete=models.PROTECT, related_name="host_licenses")
    license = models.OneToOneField(License, on_delete=models.PROTECT, related_name="host_license")
    server_identifier = models.CharField(max_length=255)
    customer_email = models.EmailField(max_length=254)
    status = models.CharField(max_length=16, choices=LicenseStatus.choices, default=LicenseStatus.ACTIVE)
    # Live (billed) or test (the host's sandbox, never billed). A database default, so a release
    # that predates the column can still insert rows while the new one rolls out.
    livemode = models.BooleanField(default=True, db_default=True)
    provisioned_at = models.DateTimeField()
    terminated_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    plugin_version = models.CharField(max_length=64, blank=True)
    player_count = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        db_table = "host_licenses"
        ordering = ["-provisioned_at", "-license"]
        verbose_name = "license"
        constraints = [
            # Per mode: a host's test server "rust-nyc-01" and its live one are two servers.
            models.UniqueConstraint(
                fields=["host", "livemode", "server_identifier"],
                condition=~Q(status=LicenseStatus.TERMINATED),
                name="host_licenses_one_per_server_per_mode",
            ),
            models.CheckConstraint(condition=_STATUS_VALID, name="host_licenses_status_valid"),
            models.CheckConstraint(condition=_TERMINATED_HAS_TIME, name="host_licenses_terminated_at_matches_status"),
            models.CheckConstraint(
                condition=~Q(server_identifier=""), name="host_licenses_server_identifier_not_empty"
            ),
        ]
        indexes = [
            # The host's license list, newest first by (provisioned_at, license id), and its keyset pages.
            models.Index(fields=["host", "-provisioned_at", "-license"], name="host_licenses_list_idx"),
            models.Index(fields=["host", "status", "-provisioned_at", "-license"], name="host_licenses_status_idx"),
            models.Index(fields=["host", "server_identifier"], name="host_licenses_server_idx"),
            # The host API's `?customer_email=` filter, which ignores case.
            models.Index("host", Upper("customer_email"), name="host_licenses_email_idx"),
        ]

    def __str__(self):
        return f"{self.host} / {self.server_identifier}"


class LicenseStatusChange(Immutable):
    """One change of a license's status, with its time and who made it: the append-only history.

    Provisioning writes the first row (`active`), every status change one more, each in the
    transaction that makes the change. Billing reads it for a license's status at a month's end,
    and the resume rule for who suspended a license.
    """

    # Who counts as staff: a person in the admin, or an operator's command. A license they
    # suspended is resumed by staff only.
    STAFF_ACTOR_TYPES = frozenset({AuditEvent.ActorType.STAFF, AuditEvent.ActorType.COMMAND})

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No index of its own: the two below start with it.
    license = models.ForeignKey(License, on_delete=models.PROTECT, related_name="status_changes", db_index=False)
    # 1 for provisioning, then one more per change: orders changes the clock cannot tell apart
    # (two in one tick, or a clock stepped back), and the unique pair refuses a second writer.
    sequence = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=LicenseStatus.choices)
    changed_at = models.DateTimeField()
    actor_type = models.CharField(max_length=16, choices=AuditEvent.ActorType.choices)
    # The key id, the staff username or the command name, as audit.services.Actor gives it.
    actor = models.CharField(max_length=150)

    class Meta:
        db_table = "license_status_changes"
        ordering = ["license", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["license", "sequence"], name="license_status_changes_license_sequence"),
            models.CheckConstraint(condition=Q(sequence__gte=1), name="license_status_changes_sequence_gte_1"),
            models.CheckConstraint(condition=_STATUS_VALID, name="license_status_changes_status_valid"),
            models.CheckConstraint(
                condition=Q(actor_type__in=AuditEvent.ActorType.values), name="license_status_changes_actor_type_valid"
            ),
        ]
        indexes = [
            # A license's status at a moment: its last change before it (the month close asks for
            # every billed license's status at the month's end).
            models.Index(fields=["license", "changed_at", "sequence"], name="license_status_time_idx"),
        ]

    def __str__(self):
        return (
            f"{self.license_id} {self.status} at {self.changed_at:%Y-%m-%d %H:%M:%S} by {self.actor_type}:{self.actor}"
        )

    @property
    def by_staff(self) -> bool:
        return self.actor_type in self.STAFF_ACTOR_TYPES
