"""The invoice as a document: one function gathers its content, and the HTML page and the PDF are
both drawn from that, so they can never say different things.

`invoice_files(invoice)` is what the e-mail job attaches: `<number>.pdf`, and for a bill of more
than INVOICE_PDF_MAX_LINES servers (summarised in the PDF) its rows as the bill's CSV.
"""

import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from itertools import islice

from django.conf import settings
from django.template.loader import render_to_string
from fpdf import FPDF

from billing.models import Invoice
from billing.months import month_format
from billing.rules import LINE_FIELDS, BillLine
from billing.selectors import invoice_lines
from corrosion.api.renderers import csv_lines

# The bill's CSV, as `GET /api/host/billing/{month}.csv` answers it and the invoice e-mail attaches it.
BILL_CSV_HEADER = ("month", *LINE_FIELDS, "wholesale_rate_usd")


def bill_csv_rows(*, month, lines, wholesale_rate_usd):
    """The header, then one row per billed server; lazily, so 100,000 lines cost constant memory."""
    yield BILL_CSV_HEADER
    text = month_format(month)
    for line in lines:
        yield (text, *(getattr(line, field) for field in LINE_FIELDS), wholesale_rate_usd)


@dataclass(frozen=True)
class InvoiceContent:
    """Everything an invoice document shows, in the order it shows it."""

    number: str
    status: str
    overdue: bool
    issued_on: date
    due_date: date
    month: str
    currency: str
    issuer_name: str
    issuer_address: list[str]
    buyer_company_name: str
    buyer_contact_email: str
    buyer_billing_address: list[str]
    buyer_tax_id: str
    active_license_count: int
    wholesale_rate_usd: Decimal
    total_amount_usd: Decimal
    paid_at: date | None
    payment_reference: str
    voided_at: datetime | None
    void_reason: str
    lines: list[BillLine]
    # The rows are the first `len(lines)` of `active_license_count`; the rest are in the bill's CSV.
    lines_truncated: bool

    @property
    def csv_name(self) -> str:
        return f"corrosion-billing-{self.month}.csv"


def invoice_content(invoice: Invoice, *, max_lines: int | None = None) -> InvoiceContent:
    """The invoice's content, with at most `max_lines` rows (INVOICE_PDF_MAX_LINES by default):
    only those rows are read, so a host of 100,000 servers costs one small query."""
    limit = settings.INVOICE_PDF_MAX_LINES if max_lines is None else max_lines
    lines = list(islice(invoice_lines(invoice), limit)) if limit else []
    return InvoiceContent(
        number=invoice.number,
        status=invoice.status,
        overdue=invoice.overdue,
        issued_on=invoice.issued_at.date(),
        due_date=invoice.due_date,
        month=month_format(invoice.billing_month),
        currency=invoice.currency,
        issuer_name=invoice.issuer_name,
        issuer_address=invoice.issuer_address.splitlines(),
        buyer_company_name=invoice.buyer_company_name,
        buyer_contact_email=invoice.buyer_contact_email,
        buyer_billing_address=invoice.buyer_billing_address.splitlines(),
        buyer_tax_id=invoice.buyer_tax_id,
        active_license_count=invoice.active_license_count,
        wholesale_rate_usd=invoice.wholesale_rate_usd,
        total_amount_usd=invoice.total_amount_usd,
        paid_at=invoice.paid_at,
        payment_reference=invoice.payment_reference,
        voided_at=invoice.voided_at,
        void_reason=invoice.void_reason,
        lines=lines,
        lines_truncated=invoice.active_license_count > len(lines),
    )


def invoice_html(invoice: Invoice, *, content: InvoiceContent | None = None) -> str:
    """The invoice as an HTML fragment (an <article>), for the admin's and the portal's pages."""
    return render_to_string("billing/invoice.html", {"invoice": content or invoice_content(invoice)})


# --- PDF --------------------------------------------------------------------------------------------

# (title, characters): 7-point Courier fits 128 characters in A4's width between the margins.
_COLUMNS = (("Server", 32), ("Hostname", 40), ("Customer", 38), ("Status", 10))


def _text(value) -> str:
    """Text for the PDF's built-in Helvetica, which has Latin-1 only: accents are kept where Latin-1
    has them, other letters lose their marks, and what is left becomes "?". The HTML and the JSON
    keep every character; no font file needs to ship with the app."""
    text = str(value)
    try:
        text.encode("latin-1")
        return text
    except UnicodeEncodeError:
        pass
    out = []
    for character in text:
        try:
            character.encode("latin-1")
            out.append(character)
        except UnicodeEncodeError:
            plain = unicodedata.normalize("NFKD", character).encode("latin-1", "ignore").decode("latin-1")
            out.append(plain or "?")
    return "".join(out)


def _money(amount: Decimal) -> str:
    return f"{amount:,.2f}"


class _InvoicePDF(FPDF):
    def __init__(self, content):
        super().__init__(format="A4")
        self.content = content
        self.set_auto_page_break(auto=True, margin=15)
        self.set_title(f"Invoice {content.number}")
        self.set_author(content.issuer_name)
        self.set_creator("Corrosion")

    def footer(self):
        self.set_y(-12)
        self.set_font("Helvetica", size=8)
        self.cell(0, 5, _text(f"Invoice {self.content.number} - page {self.page_no()}/{{nb}}"), align="C")


def invoice_pdf(invoice: Invoice, *, content: InvoiceContent | None = None) -> bytes:
    """The invoice as a PDF document (bytes), drawn from invoice_content."""
    content = content or invoice_content(invoice)
    pdf = _InvoicePDF(content)
    pdf.add_page()
    width = pdf.epw

    def line(text, *, size=10, style="", height=5):
        pdf.set_font("Helvetica", style=style, size=size)
        pdf.multi_cell(width, height, _text(text), new_x="LMARGIN", new_y="NEXT")

    line(content.issuer_name, size=14, style="B", height=7)
    for address_line in content.issuer_address:
        line(address_line, size=9)
    pdf.ln(4)
    line(f"Invoice {content.number}", size=16, style="B", height=8)
    state = {"open": "Open", "paid": "Paid", "void": "Void"}[content.status]
    if content.status == "open" and content.overdue:
        state = "Open, overdue"
    line(f"Status: {state}")
    line(f"Issued: {content.issued_on.isoformat()}    Due: {content.due_date.isoformat()}")
    line(f"Billing month: {content.month}    Currency: {content.currency}")
    if content.paid_at:
        line(f"Paid on {content.paid_at.isoformat()}, reference {content.payment_reference}")
    if content.voided_at:
        line(f"Voided on {content.voided_at.date().isoformat()}: {content.void_reason}")
    pdf.ln(3)
    line("Bill to", style="B")
    line(content.buyer_company_name)
    for address_line in content.buyer_billing_address:
        line(address_line)
    line(content.buyer_contact_email)
    if content.buyer_tax_id:
        line(f"Tax id: {content.buyer_tax_id}")
    pdf.ln(4)
    line("Corrosion licenses, one per billed game server", style="B")
    line(
        f"{content.active_license_count} servers x {_money(content.wholesale_rate_usd)} {content.currency} "
        f"= {_money(content.total_amount_usd)} {content.currency}",
        size=11,
    )
    line(f"Total due: {_money(content.total_amount_usd)} {content.currency}", size=12, style="B", height=7)
    pdf.ln(3)
    if content.lines_truncated:
        line(
            f"This invoice covers {content.active_license_count} servers. "
            + (f"The first {len(content.lines)} are listed below; " if content.lines else "")
            + f"every one is listed in the bill's CSV ({content.csv_name}).",
            size=9,
        )
        pdf.ln(2)
    if content.lines:
        _table(pdf, content.lines)
    return bytes(pdf.output())


def _table(pdf, lines):
    # One fixed-width (Courier) text line per server rather than a cell per value: cells cost fpdf2
    # a font and graphics-state round trip each, so 1,000 rows took 3x as long. Long values are
    # cut to their column: the CSV has them whole.
    def row(values):
        return "  ".join(
            _text(value)[:width].ljust(width) for value, (_, width) in zip(values, _COLUMNS, strict=True)
        ).rstrip()

    def header():
        pdf.set_font("Courier", style="B", size=7)
        pdf.cell(0, 4, row([title for title, _ in _COLUMNS]), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Courier", size=7)

    header()
    for bill_line in lines:
        if pdf.will_page_break(4):
            pdf.add_page()
            header()
        values = (bill_line.server_id, bill_line.hostname, bill_line.customer_email, bill_line.status)
        pdf.cell(0, 3.6, row(values), new_x="LMARGIN", new_y="NEXT")


def invoice_files(invoice: Invoice) -> list[tuple[str, bytes, str]]:
    """(filename, content, mimetype) of what the invoice e-mail carries: the PDF, and the bill's CSV
    beside it when the PDF lists only the first INVOICE_PDF_MAX_LINES servers."""
    content = invoice_content(invoice)
    files = [(f"{invoice.number}.pdf", invoice_pdf(invoice, content=content), "application/pdf")]
    if content.lines_truncated:
        rows = bill_csv_rows(
            month=invoice.billing_month, lines=invoice_lines(invoice), wholesale_rate_usd=invoice.wholesale_rate_usd
        )
        files.append((content.csv_name, "".join(csv_lines(rows)).encode(), "text/csv"))
    return files
