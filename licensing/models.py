import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Upper

from corrosion.db import Undeletable
from hosts.models import Host


class LicenseStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"
    TERMINATED = "terminated", "Terminated"


_STATUS_VALID = Q(status__in=LicenseStatus.values)
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
        ]
        indexes = [
            # The host API's `?hostname=` filter, which ignores case (Django's iexact is UPPER(...) = UPPER(...)).
            models.Index(Upper("hostname"), name="licenses_hostname_upper_idx"),
        ]

    def __str__(self):
        return self.license_key


class HostLicense(Undeletable):
    """A license as one host holds it, for one of its servers.

    `status` and `terminated_at` copy the license's, because the database can only enforce
    "one live license per server of a host" on columns of this table.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    host = models.ForeignKey(Host, on_delete=models.PROTECT, related_name="host_licenses")
    license = models.OneToOneField(License, on_delete=models.PROTECT, related_name="host_license")
    server_identifier = models.CharField(max_length=255)
    customer_email = models.EmailField(max_length=254)
    status = models.CharField(max_length=16, choices=LicenseStatus.choices, default=LicenseStatus.ACTIVE)
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
            models.UniqueConstraint(
                fields=["host", "server_identifier"],
                condition=~Q(status=LicenseStatus.TERMINATED),
                name="host_licenses_one_live_per_server",
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
