from contextlib import contextmanager
from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from audit.services import Actor
from hosts.keys import generate_key_id, generate_raw_key
from hosts.models import Host, HostAPIKey, HostRate
from licensing.keys import generate_license_key
from licensing.models import HostLicense, License, LicenseStatus, LicenseStatusChange

FACTORY_ACTOR = Actor.command("factory")

# The mode factories build licenses in unless told: live, or test inside `licenses_in_mode(False)`
# (the `livemode` fixture), so one suite of tests runs once per mode without being copied.
_mode = {"livemode": True}


def factory_livemode():
    return _mode["livemode"]


@contextmanager
def licenses_in_mode(livemode):
    previous, _mode["livemode"] = _mode["livemode"], livemode
    try:
        yield livemode
    finally:
        _mode["livemode"] = previous


class HostFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Host
        skip_postgeneration_save = True

    company_name = factory.Sequence(lambda n: f"Host {n} Ltd")
    contact_email = factory.Sequence(lambda n: f"ops{n}@host{n}.test")
    # Well before the months tests bill: a month before the host's creation has no bill.
    created_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=3650))

    @classmethod
    def _create(cls, model_class, *args, created_at=None, **kwargs):
        host = super()._create(model_class, *args, **kwargs)
        if created_at is not None:  # auto_now_add would overwrite it on insert
            Host.objects.filter(pk=host.pk).update(created_at=created_at)
            host.created_at = created_at
        return host

    @factory.post_generation
    def rate_history(self, create, extracted, **kwargs):
        if create:
            HostRate.objects.create(
                host=self,
                wholesale_rate_usd=self.wholesale_rate_usd,
                effective_from=self.created_at - timedelta(days=3650),
            )


class HostAPIKeyFactory(factory.django.DjangoModelFactory):
    """Builds a key; the raw key is on `obj.raw_key` for the test that needs it."""

    class Meta:
        model = HostAPIKey
        exclude = ["raw_key"]

    host = factory.SubFactory(HostFactory)
    key_id = factory.LazyFunction(generate_key_id)
    livemode = True
    raw_key = factory.LazyAttribute(lambda o: generate_raw_key(o.key_id, livemode=o.livemode))
    digest = factory.LazyAttribute(lambda o: HostAPIKey.digest_of(o.raw_key))


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    email = factory.Sequence(lambda n: f"customer{n}@example.test")
    username = factory.LazyAttribute(lambda o: o.email.lower())


class LicenseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = License

    livemode = factory.LazyFunction(factory_livemode)
    license_key = factory.LazyAttribute(lambda o: generate_license_key(livemode=o.livemode))
    companion_token = factory.Sequence(lambda n: f"companion-{n:032d}")
    customer = factory.SubFactory(UserFactory)
    hostname = factory.Sequence(lambda n: f"play{n}.example.test")
    subdomain = factory.Sequence(lambda n: f"play{n}-test")
    status = LicenseStatus.ACTIVE
    provisioned_at = factory.LazyFunction(timezone.now)
    status_changed_at = factory.LazyAttribute(lambda o: o.provisioned_at)


class HostLicenseFactory(factory.django.DjangoModelFactory):
    """A host's license for one server; status and times are copied onto both rows."""

    class Meta:
        model = HostLicense
        skip_postgeneration_save = True

    host = factory.SubFactory(HostFactory)
    server_identifier = factory.Sequence(lambda n: f"rust-{n:05d}")
    status = LicenseStatus.ACTIVE
    livemode = factory.LazyFunction(factory_livemode)
    provisioned_at = factory.LazyFunction(timezone.now)
    terminated_at = factory.LazyAttribute(lambda o: o.provisioned_at if o.status == LicenseStatus.TERMINATED else None)
    license = factory.SubFactory(
        LicenseFactory,
        status=factory.SelfAttribute("..status"),
        livemode=factory.SelfAttribute("..livemode"),
        provisioned_at=factory.SelfAttribute("..provisioned_at"),
        terminated_at=factory.SelfAttribute("..terminated_at"),
    )
    customer_email = factory.LazyAttribute(lambda o: o.license.customer.email)

    @factory.post_generation
    def status_history(self, create, extracted, **kwargs):
        """The license's status history: by default what its status and times imply (active from
        provisioning, then suspended or terminated); or the given [(status, at[, actor]), ...]
        after the provisioning row; or none at all with False (a row written outside the services)."""
        if not create or extracted is False:
            return
        changes = extracted
        if changes is None:
            changes = []
            if self.status == LicenseStatus.SUSPENDED:
                changes.append((LicenseStatus.SUSPENDED, self.license.suspended_at or self.provisioned_at))
            if self.status == LicenseStatus.TERMINATED:
                changes.append((LicenseStatus.TERMINATED, self.terminated_at))
        rows = [(LicenseStatus.ACTIVE, self.provisioned_at), *changes]
        LicenseStatusChange.objects.bulk_create(
            LicenseStatusChange(
                license=self.license,
                sequence=sequence,
                status=change[0],
                changed_at=change[1],
                actor_type=(change[2] if len(change) > 2 else FACTORY_ACTOR).type,
                actor=(change[2] if len(change) > 2 else FACTORY_ACTOR).name,
            )
            for sequence, change in enumerate(rows, start=1)
        )
