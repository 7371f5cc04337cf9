"""A realistic history built through the services, for tests that need "a database with everything
in it": hosts with a rate change, licenses provisioned singly and in bulk, suspended, resumed and
terminated (a free mistake among them), and closed months with records, lines and waived lines."""

from datetime import UTC, datetime
from decimal import Decimal

import time_machine

from audit.services import Actor
from billing.months import month_parse
from billing.services import month_close
from hosts.services import host_create, host_update
from licensing.models import HostLicense
from licensing.services import (
    ProvisionItem,
    license_provision,
    license_resume,
    license_suspend,
    license_terminate,
    license_update,
)


def _at(*args):
    return datetime(*args, tzinfo=UTC)


def build_history():
    """Three hosts' April and May 2026, both months closed; returns {"hosts": [...], "keys": [...]}."""
    command = Actor.command("tests")
    hosts, keys = [], []
    with time_machine.travel(_at(2026, 4, 1, 9), tick=False):
        for name, rate in (("Acme Hosting", "6.00"), ("Zeta Servers", "4.50"), ("Trial Games", "6.00")):
            host, issued = host_create(
                company_name=name,
                contact_email=f"ops@{name.split()[0].lower()}.test",
                wholesale_rate_usd=Decimal(rate),
                actor=command,
            )
            hosts.append(host)
            keys.append(issued.raw_key)
    acme, zeta, trial = hosts
    as_acme = Actor.host_key(keys[0][4:12])
    with time_machine.travel(_at(2026, 4, 2, 10), tick=False):
        license_provision(
            host=acme,
            items=[
                ProvisionItem(
                    server_id=f"rust-{n:02d}", hostname=f"play{n}.acme.test", customer_email=f"c{n}@acme.test"
                )
                for n in range(8)
            ],
            actor=as_acme,
            livemode=True,
            bulk=True,
        )
        license_provision(
            host=zeta,
            items=[ProvisionItem(server_id="eu-1", hostname="eu1.zeta.test", customer_email="gamer@zeta.test")],
            actor=Actor.host_key(keys[1][4:12]),
            livemode=True,
        )
    acme_licenses = {hl.server_identifier: hl for hl in HostLicense.objects.filter(host=acme)}
    with time_machine.travel(_at(2026, 4, 10, 12), tick=False):
        license_suspend(host_license=acme_licenses["rust-01"], actor=as_acme)
        license_suspend(host_license=acme_licenses["rust-02"], actor=Actor.command("support"))
        license_update(host_license=acme_licenses["rust-03"], actor=as_acme, hostname="renamed.acme.test")
    with time_machine.travel(_at(2026, 4, 20, 12), tick=False):
        license_resume(host_license=acme_licenses["rust-01"], actor=as_acme)
        license_terminate(host_license=acme_licenses["rust-04"], actor=as_acme)
    with time_machine.travel(_at(2026, 4, 30, 20), tick=False):
        # A mistake across the month's end: held 10 hours, free in April and May.
        license_provision(
            host=acme,
            items=[ProvisionItem(server_id="oops", hostname="oops.acme.test", customer_email="c0@acme.test")],
            actor=as_acme,
            livemode=True,
        )
    with time_machine.travel(_at(2026, 5, 1, 6), tick=False):
        mistake = HostLicense.objects.get(host=acme, server_identifier="oops")
        license_terminate(host_license=mistake, actor=as_acme)
    with time_machine.travel(_at(2026, 5, 15, 8), tick=False):
        host_update(host=acme, wholesale_rate_usd=Decimal("6.50"), actor=command)
        license_terminate(host_license=acme_licenses["rust-05"], actor=as_acme)
    with time_machine.travel(_at(2026, 5, 20, 9), tick=False):
        # A host whose only server was a mistake: its May record bills nothing and keeps the waived line.
        license_provision(
            host=trial,
            items=[ProvisionItem(server_id="try-1", hostname="try.trial.test", customer_email="t@trial.test")],
            actor=Actor.host_key(keys[2][4:12]),
            livemode=True,
        )
    with time_machine.travel(_at(2026, 5, 21, 9), tick=False):
        license_terminate(
            host_license=HostLicense.objects.get(host=trial, server_identifier="try-1"),
            actor=Actor.host_key(keys[2][4:12]),
        )
    with time_machine.travel(_at(2026, 6, 4, 1), tick=False):
        month_close(month=month_parse("2026-04"), actor=command)
        month_close(month=month_parse("2026-05"), actor=command)
    return {"hosts": hosts, "keys": keys}
