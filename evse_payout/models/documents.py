"""The tax documents of a Sub-CPO payout statement, and the VAT rates they apply.

A Sub-CPO statement is paid as one transfer but is two documents: the self-billed invoice the CPO
writes on the Sub-CPO's behalf for its charging service (UNCL1001 code 389; seller = Sub-CPO), and
the CPO's own fee invoice to the Sub-CPO (380). A final statement is corrected only by credit notes
reversing them (261 and 381). Each kind has its own gapless number series per year.

Every document keeps a frozen copy of both parties and of its VAT treatment: it reads the same
years later, whatever is edited since.
"""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q, Value

from .invoicing import Invoice

SUM_TOLERANCE = Value(Decimal("0.00001"))


class VatRate(models.Model):
    """A country's standard VAT rate over a period of dates (both ends included)."""

    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2, e.g. BE.")
    rate = models.DecimalField("rate (%)", max_digits=5, decimal_places=2)
    valid_from = models.DateField()
    valid_until = models.DateField(
        null=True, blank=True, help_text="Last day the rate applies. Empty: until further notice."
    )

    class Meta:
        verbose_name = "VAT rate"
        ordering = ["country", "-valid_from", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["country", "valid_from"], name="vatrate_one_per_country_and_start"
            ),
            models.CheckConstraint(
                condition=Q(rate__gte=0) & Q(rate__lte=100), name="vatrate_rate_between_0_and_100"
            ),
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True) | Q(valid_until__gte=F("valid_from")),
                name="vatrate_valid_until_after_valid_from",
            ),
        ]

    def __str__(self):
        return f"{self.country} {self.rate}% from {self.valid_from}"

    def clean(self):
        self.country = (self.country or "").upper()
        overlapping = VatRate.objects.filter(country=self.country).exclude(pk=self.pk)
        if self.valid_until:
            overlapping = overlapping.filter(valid_from__lte=self.valid_until)
        overlapping = overlapping.filter(
            Q(valid_until__isnull=True) | Q(valid_until__gte=self.valid_from)
        )
        clash = overlapping.first()
        if clash:
            raise ValidationError(
                f"{self.country} already has the rate {clash} over part of this period; "
                "end that rate first (valid until)."
            )


class DocumentKind(models.TextChoices):
    SELF_BILLED_INVOICE = "self_billed_invoice", "Self-billed invoice"
    FEE_INVOICE = "fee_invoice", "Fee invoice"
    SELF_BILLED_CREDIT_NOTE = "self_billed_credit_note", "Self-billed credit note"
    FEE_CREDIT_NOTE = "fee_credit_note", "Fee credit note"


# UNCL1001 document type codes, as EN 16931 and Peppol use them.
TYPE_CODES = {
    DocumentKind.SELF_BILLED_INVOICE: "389",
    DocumentKind.FEE_INVOICE: "380",
    DocumentKind.SELF_BILLED_CREDIT_NOTE: "261",
    DocumentKind.FEE_CREDIT_NOTE: "381",
}
NUMBER_PREFIXES = {
    DocumentKind.SELF_BILLED_INVOICE: "SB",
    DocumentKind.FEE_INVOICE: "FE",
    DocumentKind.SELF_BILLED_CREDIT_NOTE: "SBC",
    DocumentKind.FEE_CREDIT_NOTE: "FEC",
}
CREDIT_NOTE_OF = {
    DocumentKind.SELF_BILLED_INVOICE: DocumentKind.SELF_BILLED_CREDIT_NOTE,
    DocumentKind.FEE_INVOICE: DocumentKind.FEE_CREDIT_NOTE,
}
CREDIT_NOTE_KINDS = tuple(CREDIT_NOTE_OF.values())
SELF_BILLED_KINDS = (DocumentKind.SELF_BILLED_INVOICE, DocumentKind.SELF_BILLED_CREDIT_NOTE)


class VatCategory(models.TextChoices):
    """UNCL5305 VAT category codes, as EN 16931 uses them."""

    STANDARD = "S", "Standard rate"
    REVERSE_CHARGE = "AE", "Reverse charge"
    EXEMPT = "E", "Exempt from VAT"
    NOT_SUBJECT = "O", "Not subject to VAT"


class DocumentNumberSequence(models.Model):
    """The last number given per series and year: issuing locks this row so numbers are gapless."""

    series = models.CharField(max_length=8)
    year = models.PositiveIntegerField()
    last_number = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["series", "year"], name="document_sequence_unique")
        ]

    def __str__(self):
        return f"{self.series}-{self.year}: {self.last_number}"


def _party_fields(role: str) -> dict[str, models.Field]:
    return {
        f"{role}_name": models.CharField(f"{role} name", max_length=200),
        f"{role}_street": models.CharField(f"{role} street", max_length=70),
        f"{role}_building_number": models.CharField(f"{role} building number", max_length=16),
        f"{role}_postal_code": models.CharField(f"{role} postal code", max_length=16),
        f"{role}_city": models.CharField(f"{role} city", max_length=35),
        f"{role}_country": models.CharField(f"{role} country", max_length=2),
        f"{role}_vat_number": models.CharField(f"{role} VAT number", max_length=32, blank=True),
    }


class Document(models.Model):
    """One numbered tax document of a payout statement; amounts rounded once to the currency.

    Credit notes carry the negated amounts of the document they reverse, so the documents of a
    cancelled statement add up to zero.
    """

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="documents")
    kind = models.CharField(max_length=24, choices=DocumentKind.choices)
    number = models.CharField(max_length=24, unique=True)
    issue_date = models.DateField()
    currency = models.CharField(max_length=3)
    period_start = models.DateField(help_text="First day of the supply period.")
    period_end = models.DateField(help_text="Last day of the supply period.")
    net = models.DecimalField(max_digits=18, decimal_places=4)
    vat_rate = models.DecimalField("VAT rate (%)", max_digits=5, decimal_places=2)
    vat = models.DecimalField("VAT", max_digits=18, decimal_places=4)
    total = models.DecimalField(max_digits=18, decimal_places=4)
    vat_category = models.CharField("VAT category", max_length=2, choices=VatCategory.choices)
    vat_treatment = models.CharField("VAT treatment", max_length=200)
    vat_mention = models.CharField("VAT mention", max_length=300, blank=True)
    vat_exemption_code = models.CharField("VATEX code", max_length=20, blank=True)
    # Seller and buyer have the same fields; a class body's locals() is the class namespace.
    locals().update(_party_fields("seller"))
    locals().update(_party_fields("buyer"))
    agreement_reference = models.CharField(
        "self-billing agreement reference", max_length=64, blank=True
    )
    agreement_signed_on = models.DateField(null=True, blank=True)
    agreement_valid_until = models.DateField(null=True, blank=True)
    corrects = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="credit_note",
        help_text="The document this credit note reverses.",
    )
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["invoice", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["invoice", "kind"], name="document_one_of_each_kind_per_statement"
            ),
            # Within a ten-thousandth, not equal: SQLite keeps decimals as floating point.
            models.CheckConstraint(
                condition=Q(total__gte=F("net") + F("vat") - SUM_TOLERANCE)
                & Q(total__lte=F("net") + F("vat") + SUM_TOLERANCE),
                name="document_total_is_net_plus_vat",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=DocumentKind.values), name="document_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=CREDIT_NOTE_KINDS, corrects__isnull=False)
                | (~Q(kind__in=CREDIT_NOTE_KINDS) & Q(corrects__isnull=True)),
                name="document_credit_note_reverses_a_document",
            ),
        ]

    def __str__(self):
        return self.number

    @property
    def type_code(self) -> str:
        return TYPE_CODES[DocumentKind(self.kind)]

    @property
    def is_credit_note(self) -> bool:
        return self.kind in CREDIT_NOTE_KINDS

    @property
    def is_self_billed(self) -> bool:
        return self.kind in SELF_BILLED_KINDS

    def party(self, role: str) -> dict[str, str]:
        """The frozen copy of `seller` or `buyer`, keyed without the prefix."""
        return {name[len(role) + 1 :]: getattr(self, name) for name in _party_fields(role)}


class StatementCancellation(models.Model):
    """A final statement cancelled with credit notes: when, by whom, and how many CDRs returned."""

    invoice = models.OneToOneField(Invoice, on_delete=models.PROTECT, related_name="cancellation")
    at = models.DateTimeField()
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    by_label = models.CharField(max_length=150, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    cdr_count = models.PositiveIntegerField(default=0)

    def __str__(self):
        return f"Cancellation of {self.invoice}"


class CancelledStatementLine(models.Model):
    """A line of a cancelled statement, kept as it was: its CDR went back to `rated` (and may be
    re-rated and invoiced again), so the fee and payout on the cancelled documents are copied."""

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="cancelled_lines")
    cdr = models.ForeignKey("CDR", on_delete=models.PROTECT, related_name="+")
    fee = models.DecimalField(max_digits=16, decimal_places=4)
    payout = models.DecimalField(max_digits=16, decimal_places=4)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["invoice", "cdr"], name="cancelled_line_unique")
        ]

    def __str__(self):
        return f"{self.invoice}: {self.cdr_id}"
