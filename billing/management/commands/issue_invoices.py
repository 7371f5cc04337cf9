from audit.services import Actor
from billing.management.arguments import month_argument
from billing.months import month_format
from billing.services import invoices_issue_missing
from corrosion.commands import Command as BaseCommand


class Command(BaseCommand):
    help = (
        "Issue the missing invoices of a closed month (one closed before invoices existed): one per host "
        "billed above 0.00 without an invoice. Safe to re-run; a voided invoice is never issued again."
    )

    def add_arguments(self, parser):
        parser.add_argument("--month", type=month_argument, required=True, help="YYYY-MM, a closed month")

    def handle(self, *args, month, **options):
        issued = invoices_issue_missing(month=month, actor=Actor.command("issue_invoices"))
        label = month_format(month)
        if not issued:
            self.stdout.write(f"{label}: every host billed has its invoice; nothing issued.")
            return
        for number, company, total in issued:
            self.stdout.write(f"{number}  {company}  {total} USD")
        count = len(issued)
        self.stdout.write(
            self.style.SUCCESS(
                f"Issued {count} invoice{'s' if count != 1 else ''} for {label}: {issued[0][0]} to {issued[-1][0]}."
            )
        )
