"""Django admin for superusers' corrections; usable on tables of millions of rows.

Writes that carry business rules go through the same services as the product's pages: payout
accounts (create, edit, (de)activate: R2, R4, audit), a location's owner (R2), an OCPI token's
parties; assignments are read-only here (the product pages assign and unassign). Nothing that
money or history hangs on can be deleted here (deactivate instead).
"""

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from .models import (
    CDR,
    EVSE,
    Assignment,
    AuditEvent,
    CancelledStatementLine,
    CDRRating,
    CDRStatus,
    Connector,
    Document,
    DocumentNumberSequence,
    Invoice,
    InvoiceNumberSequence,
    InvoiceRun,
    InvoiceRunExclusion,
    Job,
    Location,
    OCPIToken,
    OCPITokenParty,
    OpenAssignmentCount,
    PayoutAccount,
    StatementCancellation,
    StatementLine,
    SubCPO,
    UnassignedEVSE,
    VatRate,
)
from .money import format_money
from .services.accounts import (
    EDITABLE_FIELDS,
    PayoutAccountError,
    check_payout_account_change,
    create_payout_account,
    deactivate_payout_account,
    reactivate_payout_account,
    update_payout_account,
)
from .services.locations import LocationOwnerError, change_location_owner, check_location_owner
from .services.ocpi_tokens import OCPITokenError, parse_party, set_ocpi_token_parties
from .tables.accounts import grouped_iban
from .validators import country_name

HISTORY_ROWS = 50


def country_filter(field: str, title: str = "country"):
    """A list filter offering the countries present, by name (not "AUT", "BEL")."""

    class CountryFilter(admin.SimpleListFilter):
        parameter_name = field

        def lookups(self, request, model_admin):
            codes = model_admin.get_queryset(request).order_by().values_list(field, flat=True)
            return sorted(
                ((code, country_name(code)) for code in set(codes) if code), key=lambda c: c[1]
            )

        def queryset(self, request, queryset):
            return queryset.filter(**{field: self.value()}) if self.value() else queryset

    CountryFilter.title = title
    return CountryFilter


def money_column(field: str, description: str):
    """A list column showing an amount as everywhere else: `1,234.50 EUR`."""

    @admin.display(description=description, ordering=field)
    def show(self, obj):
        return format_money(getattr(obj, field), obj.currency)

    return show


class NoDeleteMixin:
    """Money and history hang on these rows: never deleted here (deactivate or REMOVE instead)."""

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyMixin:
    """History and records written only by services: viewable, never added, changed or deleted."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc)


def changelist_link(model, label, **filters):
    url = reverse(f"admin:evse_payout_{model._meta.model_name}_changelist")
    query = "&".join(f"{key}={value}" for key, value in filters.items())
    return format_html('<a href="{}?{}">{}</a>', url, query, label)


HISTORY_FIELDS = [
    "evse",
    "payout_account",
    "assigned_at",
    "assigned_by",
    "unassigned_at",
    "unassigned_by",
    "unassign_reason",
]


class AssignmentHistoryInline(ReadOnlyMixin, admin.TabularInline):
    """The newest assignments of the parent; the full history is one link away."""

    model = Assignment
    extra = 0
    ordering = ["-assigned_at", "-pk"]
    verbose_name_plural = f"Assignment history (newest {HISTORY_ROWS})"

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("evse", "payout_account", "assigned_by", "unassigned_by")
        )


def assignment_history_inline(parent_field: str) -> type[AssignmentHistoryInline]:
    fields = [field for field in HISTORY_FIELDS if field != parent_field]
    return type(
        f"{parent_field.title()}AssignmentInline",
        (AssignmentHistoryInline,),
        {"fields": fields, "readonly_fields": fields},
    )


class NewestHistoryMixin:
    """The parent's assignment history: its newest rows inline (an account may have thousands),
    and a link to all of them."""

    history_fk = ""

    @admin.display(description="Full assignment history")
    def assignment_history(self, obj):
        return changelist_link(
            Assignment, "All assignments", **{f"{self.history_fk}__id__exact": obj.pk}
        )

    def get_formset_kwargs(self, request, obj, inline, prefix):
        kwargs = super().get_formset_kwargs(request, obj, inline, prefix)
        if isinstance(inline, AssignmentHistoryInline) and obj is not None and obj.pk is not None:
            newest = (
                Assignment.objects.filter(**{self.history_fk: obj})
                .order_by("-assigned_at", "-pk")
                .values_list("pk", flat=True)[:HISTORY_ROWS]
            )
            kwargs["queryset"] = kwargs["queryset"].filter(pk__in=list(newest))
        return kwargs


@admin.register(SubCPO)
class SubCPOAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "country",
        "vat_status",
        "vat_number",
        "agreement_reference",
        "agreement_valid_until",
        "is_active",
    ]
    list_filter = ["is_active", country_filter("country"), "vat_status"]
    search_fields = ["name", "vat_number", "agreement_reference"]
    fieldsets = [
        (None, {"fields": ["name", "is_active"]}),
        ("Address", {"fields": ["street", "building_number", "postal_code", "city", "country"]}),
        ("VAT", {"fields": ["vat_status", "vat_number"]}),
        (
            "Self-billing agreement",
            {
                "fields": ["agreement_reference", "agreement_signed_on", "agreement_valid_until"],
                "description": "The CPO may invoice on the Sub-CPO's behalf only under this "
                "agreement; statements cannot be finalized without it.",
            },
        ),
    ]


class LocationAdminForm(forms.ModelForm):
    def clean_owner(self):
        owner = self.cleaned_data.get("owner")
        if self.instance.pk is not None and owner != self.instance.owner:
            try:
                check_location_owner(location=self.instance, owner=owner)
            except LocationOwnerError as exc:
                raise ValidationError(str(exc)) from exc
        return owner


@admin.register(Location)
class LocationAdmin(NoDeleteMixin, admin.ModelAdmin):
    """The owner changes through `change_location_owner` (R2: not under live assignments of
    another holder); the OCPI identity is fixed once the location exists."""

    form = LocationAdminForm
    list_display = [
        "location_id",
        "name",
        "address",
        "postal_code",
        "city",
        "country",
        "owner",
    ]
    list_filter = [country_filter("country"), ("owner", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["owner"]
    search_fields = ["=location_id", "name", "address", "postal_code", "city"]
    autocomplete_fields = ["owner"]
    show_full_result_count = False

    def get_readonly_fields(self, request, obj=None):
        return ["country_code", "party_id", "location_id"] if obj is not None else []

    def save_model(self, request, obj, form, change):
        owner = obj.owner
        if change and "owner" in form.changed_data:
            obj.owner = Location.objects.get(pk=obj.pk).owner
        super().save_model(request, obj, form, change)
        if change and "owner" in form.changed_data:
            try:
                change_location_owner(location=obj, owner=owner, actor=request.user)
            except LocationOwnerError as exc:
                self.message_user(request, str(exc), messages.ERROR)


class ConnectorInline(admin.TabularInline):
    model = Connector
    extra = 0
    fields = [
        "connector_id",
        "standard",
        "format",
        "power_type",
        "max_voltage",
        "max_amperage",
        "max_electric_power",
        "last_updated",
    ]


class EVSEAdminForm(forms.ModelForm):
    def clean(self):
        cleaned = super().clean()
        location = cleaned.get("location")
        party = (cleaned.get("country_code"), cleaned.get("party_id"))
        if (
            self.instance.pk is None
            and location is not None
            and party
            != (
                location.country_code,
                location.party_id,
            )
        ):
            # An EVSE's OCPI identity is its party's: it cannot sit at another party's location.
            self.add_error(
                "location",
                f"Location {location} belongs to party {location.country_code}/"
                f"{location.party_id}, not {party[0]}/{party[1]}.",
            )
        return cleaned


@admin.register(EVSE)
class EVSEAdmin(NoDeleteMixin, NewestHistoryMixin, admin.ModelAdmin):
    """OCPI owns an EVSE's identity and location (R2 is checked there); set to REMOVED instead of
    deleting."""

    form = EVSEAdminForm
    list_display = [
        "evse_id",
        "uid",
        "location",
        "location_city",
        "power_type",
        "output_kw",
        "status",
    ]
    list_filter = ["power_type", "status", country_filter("location__country")]
    list_select_related = ["location"]
    search_fields = ["evse_id", "=uid", "location__name", "location__city"]
    autocomplete_fields = ["location"]
    show_full_result_count = False
    inlines = [ConnectorInline, assignment_history_inline("evse")]
    history_fk = "evse"

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["country_code", "party_id", "uid", "location", "assignment_history"]

    @admin.display(description="City", ordering="location__city")
    def location_city(self, evse):
        return evse.location.city


class PayoutAccountAdminForm(forms.ModelForm):
    def clean(self):
        cleaned = super().clean()
        if self.instance.pk is not None and not self.errors:
            current = PayoutAccount.objects.get(pk=self.instance.pk)
            # Compare what would be stored: "eur" for "EUR" is no change of currency.
            wanted = PayoutAccount(**{f: cleaned[f] for f in EDITABLE_FIELDS if f in cleaned})
            wanted.normalize_bank_fields()
            changed = [
                f
                for f in EDITABLE_FIELDS
                if f in cleaned and getattr(wanted, f) != getattr(current, f)
            ]
            try:
                check_payout_account_change(account=current, changed=changed)
            except PayoutAccountError as exc:
                raise ValidationError(exc.message) from exc
        return cleaned


@admin.register(PayoutAccount)
class PayoutAccountAdmin(NoDeleteMixin, NewestHistoryMixin, admin.ModelAdmin):
    """Create, edit and (de)activate through `services.accounts`: the same rules and audit rows
    as the Payout accounts pages."""

    form = PayoutAccountAdminForm
    list_display = [
        "name",
        "holder_display",
        "iban_display",
        "currency",
        "commission_percent",
        "fee_per_kwh",
        "fee_per_session",
        "is_active",
    ]
    list_filter = ["is_active", "currency", ("holder", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["holder"]
    search_fields = ["name", "account_holder_name", "iban", "holder__name"]
    autocomplete_fields = ["holder"]
    inlines = [assignment_history_inline("payout_account")]
    actions = ["deactivate_selected"]
    history_fk = "payout_account"

    @admin.display(description="Holder", ordering="holder__name")
    def holder_display(self, account):
        return account.holder_label

    @admin.display(description="IBAN", ordering="iban")
    def iban_display(self, account):
        return grouped_iban(account.iban)

    def get_readonly_fields(self, request, obj=None):
        history = ["assignment_history"] if obj is not None else []
        return ["created_at", "deactivated_at", "deactivated_by", *history]

    def save_model(self, request, obj, form, change):
        """Through the account services; a refusal found only under lock is shown as an error."""
        try:
            if change:
                self._update(request, obj, form)
            else:
                self._create(request, obj, form)
        except (PayoutAccountError, ValidationError) as exc:
            self.message_user(request, f"Nothing was saved: {_message(exc)}", messages.ERROR)

    def _create(self, request, obj, form):
        data = {field: form.cleaned_data[field] for field in EDITABLE_FIELDS}
        account = create_payout_account(**data, actor=request.user)
        obj.pk, obj._state.adding = account.pk, False
        if not form.cleaned_data.get("is_active", True):
            deactivate_payout_account(account=account, actor=request.user)
        obj.refresh_from_db()

    def _update(self, request, obj, form):
        changes = {field: form.cleaned_data[field] for field in form.changed_data}
        edits = {field: value for field, value in changes.items() if field in EDITABLE_FIELDS}
        if edits:
            update_payout_account(account=obj, actor=request.user, **edits)
        if "is_active" not in changes:
            obj.refresh_from_db()
            return
        if changes["is_active"]:
            reactivate_payout_account(account=obj, actor=request.user)
        else:
            count = deactivate_payout_account(account=obj, actor=request.user).unassigned_count
            self.message_user(request, f"Deactivated “{obj.name}”: unassigned {count:,} EVSEs.")

    @admin.action(description="Deactivate selected payout accounts", permissions=["change"])
    def deactivate_selected(self, request, queryset):
        """Confirm first (naming how many EVSEs lose their assignment), then call the service."""
        accounts = list(
            queryset.filter(is_active=True)
            .select_related("holder")
            .annotate(
                open_count=Count("assignments", filter=Q(assignments__unassigned_at__isnull=True))
            )
            .order_by("name", "pk")
        )
        if not accounts:
            self.message_user(
                request, "The selected payout accounts are already inactive.", messages.WARNING
            )
            return None
        if request.POST.get("post") != "yes":
            context = {
                **self.admin_site.each_context(request),
                "title": "Deactivate payout accounts?",
                "opts": self.model._meta,
                "accounts": accounts,
                "evse_count": sum(account.open_count for account in accounts),
                "queryset": queryset,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                "media": self.media,
            }
            return TemplateResponse(
                request, "admin/evse_payout/payoutaccount/deactivate_selected.html", context
            )
        deactivated = unassigned = 0
        for account in accounts:
            try:
                change = deactivate_payout_account(account=account, actor=request.user)
            except PayoutAccountError as exc:
                self.message_user(request, str(exc), messages.WARNING)
            else:
                deactivated += 1
                unassigned += change.unassigned_count
        self.message_user(
            request,
            f"Deactivated {deactivated:,} payout accounts; unassigned {unassigned:,} EVSEs.",
            messages.SUCCESS,
        )
        return None


@admin.register(Assignment)
class AssignmentAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """History, never deleted; the product pages assign and unassign through the services."""

    list_display = [
        "evse",
        "payout_account",
        "assigned_at",
        "assigned_by",
        "unassigned_at",
        "unassigned_by",
        "unassign_reason",
    ]
    list_filter = ["unassign_reason", ("unassigned_at", admin.EmptyFieldListFilter)]
    list_select_related = ["evse", "payout_account", "assigned_by", "unassigned_by"]
    search_fields = ["evse__evse_id", "payout_account__name"]
    show_full_result_count = False
    ordering = ["-assigned_at", "-pk"]


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["at", "actor_label", "action", "payout_account", "object_count", "summary"]
    list_filter = ["action"]
    list_select_related = ["payout_account"]
    search_fields = ["summary", "actor_label"]
    show_full_result_count = False


def pretty_json(value):
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True))


class CDRRatingInline(ReadOnlyMixin, admin.TabularInline):
    model = CDRRating
    extra = 0
    fields = ["at", "actor_label", "status", "reason", "reason_detail", "payout_account"]
    readonly_fields = fields
    ordering = ["-at", "-pk"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("payout_account")


STATEMENT_LOOKUP = "statement_line__invoice__id__exact"


class CDRStatusFilter(admin.SimpleListFilter):
    """`status` is derived (a CDR on a statement is `invoiced`), so it is filtered the fast way."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return CDRStatus.choices

    def queryset(self, request, queryset):
        if self.value() in CDRStatus.values:
            return queryset.with_status(self.value())
        return queryset


@admin.register(CDR)
class CDRAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Read-only: CDRs arrive over OCPI or `import_cdrs`; re-rating is on the CDR overview."""

    list_display = [
        "cdr_id",
        "country_code",
        "party_id",
        "evse_id_raw",
        "end_date_time",
        "total_energy",
        "amount_excl_vat",
        "status",
        "reason",
        "payout_account",
    ]
    list_filter = [CDRStatusFilter, "reason", "credit", "currency"]
    list_select_related = ["payout_account"]
    search_fields = ["=cdr_id", "=evse_id_raw", "=evse_uid"]
    show_full_result_count = False
    exclude = ["raw"]
    readonly_fields = ["raw_json"]
    inlines = [CDRRatingInline]

    amount_excl_vat = money_column("total_cost_excl_vat", "Total excl. VAT")

    def lookup_allowed(self, lookup, value, request):
        # The statement page links here with its CDRs.
        return lookup == STATEMENT_LOOKUP or super().lookup_allowed(lookup, value, request)

    @admin.display(description="OCPI JSON")
    def raw_json(self, cdr):
        return pretty_json(cdr.raw)


@admin.register(CDRRating)
class CDRRatingAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["cdr", "at", "actor_label", "status", "reason", "payout_account"]
    list_filter = ["status", "reason"]
    list_select_related = ["cdr", "payout_account"]
    search_fields = ["=cdr__cdr_id"]
    show_full_result_count = False


class OCPITokenAdminForm(forms.ModelForm):
    parties = forms.CharField(
        required=False,
        help_text="The OCPI parties (role CPO) this token may speak for, e.g. “BE/BEC, NL/ALF”. "
        "Empty: every request is refused.",
    )

    class Meta:
        model = OCPIToken
        fields = ["name", "is_active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.initial["parties"] = ", ".join(
                f"{cc}/{pid}" for cc, pid in sorted(self.instance.party_keys())
            )

    def clean_parties(self):
        texts = [text.strip() for text in self.cleaned_data["parties"].replace(";", ",").split(",")]
        try:
            return sorted({parse_party(text) for text in texts if text})
        except OCPITokenError as exc:
            raise ValidationError(str(exc)) from exc


@admin.register(OCPIToken)
class OCPITokenAdmin(admin.ModelAdmin):
    """Tokens are created with `manage.py create_ocpi_token NAME --party CC/PID`, which prints
    the token once; here a token's parties change (through the token service, audited)."""

    form = OCPITokenAdminForm
    list_display = ["name", "party_list", "is_active", "created_at", "last_used_at"]
    list_filter = ["is_active"]
    search_fields = ["name"]
    readonly_fields = ["token_hash", "created_at", "last_used_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("parties")

    @admin.display(description="Parties")
    def party_list(self, token):
        return ", ".join(f"{cc}/{pid}" for cc, pid in sorted(token.party_keys())) or "none"

    def has_add_permission(self, request):
        return False

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if "parties" in form.changed_data:
            set_ocpi_token_parties(
                token=obj, parties=form.cleaned_data["parties"], actor=request.user
            )


@admin.register(OCPITokenParty)
class OCPITokenPartyAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Changed on the token's page, through the token service."""

    list_display = ["token", "country_code", "party_id", "role"]
    list_filter = ["role", "country_code"]
    list_select_related = ["token"]
    search_fields = ["token__name", "=party_id"]


@admin.register(InvoiceRun)
class InvoiceRunAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Read-only: runs are made by `run_invoicing` or the Invoice runs page."""

    list_display = [
        "pk",
        "cutoff",
        "created_at",
        "created_by_label",
        "is_dry_run",
        "invoice_count",
        "cdr_count",
        "total_payout",
    ]
    list_filter = ["is_dry_run"]
    search_fields = ["created_by_label"]
    exclude = ["exclusions"]
    readonly_fields = ["exclusions_json", "statements"]

    @admin.display(description="Exclusions")
    def exclusions_json(self, run):
        return pretty_json(run.exclusions)

    @admin.display(description="Statements")
    def statements(self, run):
        return changelist_link(Invoice, "Statements of this run", run__id__exact=run.pk)


@admin.register(Invoice)
class InvoiceAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Read-only: finalize and discard on the invoice page, through the invoicing services."""

    list_display = [
        "__str__",
        "run",
        "payout_account",
        "status",
        "cdr_count",
        "collected_excl_vat",
        "fees",
        "payout",
    ]
    list_filter = ["status", "currency"]
    list_select_related = ["run", "payout_account"]
    search_fields = ["=number", "payout_account__name"]
    readonly_fields = ["lines"]

    collected_excl_vat = money_column("total_excl_vat", "Collected excl. VAT")
    fees = money_column("total_fees", "Fees")
    payout = money_column("net_payout", "Net payout")

    @admin.display(description="Lines")
    def lines(self, invoice):
        return changelist_link(CDR, "CDRs on this statement", **{STATEMENT_LOOKUP: invoice.pk})


@admin.register(VatRate)
class VatRateAdmin(admin.ModelAdmin):
    """Editable: a rate change is a new row from its first day, after ending the old one."""

    list_display = ["country", "rate", "valid_from", "valid_until"]
    list_filter = ["country"]
    search_fields = ["=country"]


@admin.register(Document)
class DocumentAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Read-only: documents are issued at finalize and reversed only by credit notes."""

    list_display = [
        "number",
        "kind",
        "invoice",
        "issue_date",
        "net",
        "vat_category",
        "vat",
        "total",
        "currency",
    ]
    list_filter = ["kind", "vat_category", "currency"]
    list_select_related = ["invoice"]
    search_fields = ["=number", "=invoice__number", "seller_name", "buyer_name"]
    show_full_result_count = False


@admin.register(StatementCancellation)
class StatementCancellationAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["invoice", "at", "by_label", "cdr_count", "reason"]
    list_select_related = ["invoice"]
    search_fields = ["=invoice__number"]


@admin.register(CancelledStatementLine)
class CancelledStatementLineAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["invoice", "cdr", "fee", "payout"]
    list_select_related = ["invoice", "cdr"]
    raw_id_fields = ["invoice", "cdr"]
    search_fields = ["=invoice__number", "=cdr__cdr_id"]
    show_full_result_count = False


@admin.register(StatementLine)
class StatementLineAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Which CDR is on which statement: written only by invoice runs (and released by discard or
    cancel)."""

    list_display = ["invoice", "cdr"]
    list_select_related = ["invoice", "cdr"]
    raw_id_fields = ["invoice", "cdr"]
    search_fields = ["=invoice__number", "=cdr__cdr_id"]
    show_full_result_count = False


@admin.register(UnassignedEVSE)
class UnassignedEVSEAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """The EVSEs without an open assignment, as the database keeps them (triggers only)."""

    list_display = ["evse_code", "location"]
    list_select_related = ["location"]
    raw_id_fields = ["evse", "location"]
    search_fields = ["=evse_code"]
    show_full_result_count = False


@admin.register(OpenAssignmentCount)
class OpenAssignmentCountAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Open assignments per payout account, as the database counts them (triggers only)."""

    list_display = ["payout_account", "count"]
    list_select_related = ["payout_account"]
    show_full_result_count = False


@admin.register(DocumentNumberSequence)
class DocumentNumberSequenceAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["series", "year", "last_number"]


@admin.register(InvoiceRunExclusion)
class InvoiceRunExclusionAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["run", "reason", "payout_account", "currency", "cdr_count", "amount_excl_vat"]
    list_filter = ["reason"]
    list_select_related = ["run", "payout_account"]
    show_full_result_count = False


@admin.register(InvoiceNumberSequence)
class InvoiceNumberSequenceAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["year", "last_number"]


@admin.register(Job)
class JobAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Jobs change only through their worker and the job pages (services/jobs.py)."""

    list_display = ["pk", "kind", "state", "created_by_label", "created_at", "done", "total"]
    list_filter = ["kind", "state"]
    search_fields = ["created_by_label"]
    show_full_result_count = False
