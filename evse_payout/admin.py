"""Django admin for superusers' corrections; usable on tables of millions of rows.

Writes that carry business rules go through the services: a payout account's (de)activation
(R4), and assignments, which are read-only here (the product pages assign and unassign).
"""

import json

from django.contrib import admin, messages
from django.contrib.admin import helpers
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
    Connector,
    Document,
    DocumentNumberSequence,
    Invoice,
    InvoiceNumberSequence,
    InvoiceRun,
    InvoiceRunExclusion,
    Location,
    OCPIToken,
    PayoutAccount,
    StatementCancellation,
    SubCPO,
    VatRate,
)
from .services.assignments import (
    AssignmentError,
    deactivate_payout_account,
    reactivate_payout_account,
)

HISTORY_ROWS = 50


class ReadOnlyMixin:
    """History and records written only by services: viewable, never added, changed or deleted."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


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
        if isinstance(inline, AssignmentHistoryInline) and obj is not None:
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
    list_filter = ["is_active", "country", "vat_status"]
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


@admin.register(Location)
class LocationAdmin(admin.ModelAdmin):
    list_display = [
        "location_id",
        "name",
        "address",
        "postal_code",
        "city",
        "country",
        "owner",
    ]
    list_filter = ["country", ("owner", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["owner"]
    search_fields = ["=location_id", "name", "address", "postal_code", "city"]
    autocomplete_fields = ["owner"]
    show_full_result_count = False


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


@admin.register(EVSE)
class EVSEAdmin(NewestHistoryMixin, admin.ModelAdmin):
    list_display = [
        "evse_id",
        "uid",
        "location",
        "location_city",
        "power_type",
        "output_kw",
        "status",
    ]
    list_filter = ["power_type", "status", "location__country"]
    list_select_related = ["location"]
    search_fields = ["evse_id", "=uid", "location__name", "location__city"]
    autocomplete_fields = ["location"]
    show_full_result_count = False
    inlines = [ConnectorInline, assignment_history_inline("evse")]
    readonly_fields = ["assignment_history"]
    history_fk = "evse"

    @admin.display(description="City", ordering="location__city")
    def location_city(self, evse):
        return evse.location.city


@admin.register(PayoutAccount)
class PayoutAccountAdmin(NewestHistoryMixin, admin.ModelAdmin):
    list_display = [
        "name",
        "holder_display",
        "iban",
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
    readonly_fields = ["created_at", "deactivated_at", "deactivated_by", "assignment_history"]
    inlines = [assignment_history_inline("payout_account")]
    actions = ["deactivate_selected"]
    history_fk = "payout_account"

    @admin.display(description="Holder", ordering="holder__name")
    def holder_display(self, account):
        return account.holder_label

    def save_model(self, request, obj, form, change):
        """(De)activation goes through its service (R4); other edits are a plain save."""
        if not change or "is_active" not in form.changed_data:
            super().save_model(request, obj, form, change)
            return
        activate = obj.is_active
        obj.is_active = not activate
        super().save_model(request, obj, form, change)
        try:
            if activate:
                reactivate_payout_account(account=obj, actor=request.user)
            else:
                count = deactivate_payout_account(account=obj, actor=request.user)
                self.message_user(request, f"Deactivated “{obj.name}”: unassigned {count:,} EVSEs.")
        except AssignmentError as exc:
            self.message_user(request, str(exc), messages.WARNING)

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
                unassigned += deactivate_payout_account(account=account, actor=request.user)
            except AssignmentError as exc:
                self.message_user(request, str(exc), messages.WARNING)
            else:
                deactivated += 1
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
        "total_cost_excl_vat",
        "currency",
        "status",
        "reason",
        "payout_account",
    ]
    list_filter = ["status", "reason", "credit", "currency"]
    list_select_related = ["payout_account"]
    search_fields = ["=cdr_id", "=evse_id_raw", "=evse_uid"]
    show_full_result_count = False
    exclude = ["raw"]
    readonly_fields = ["raw_json"]
    inlines = [CDRRatingInline]

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


@admin.register(OCPIToken)
class OCPITokenAdmin(admin.ModelAdmin):
    """Tokens are created with `manage.py create_ocpi_token NAME`, which prints the token once."""

    list_display = ["name", "is_active", "created_at", "last_used_at"]
    list_filter = ["is_active"]
    search_fields = ["name"]
    readonly_fields = ["token_hash", "created_at", "last_used_at"]

    def has_add_permission(self, request):
        return False


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
        "total_excl_vat",
        "total_fees",
        "net_payout",
        "currency",
    ]
    list_filter = ["status", "currency"]
    list_select_related = ["run", "payout_account"]
    search_fields = ["=number", "payout_account__name"]
    readonly_fields = ["lines"]

    @admin.display(description="Lines")
    def lines(self, invoice):
        return changelist_link(CDR, "CDRs on this statement", invoice__id__exact=invoice.pk)


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


@admin.register(DocumentNumberSequence)
class DocumentNumberSequenceAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["series", "year", "last_number"]


@admin.register(InvoiceRunExclusion)
class InvoiceRunExclusionAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["run", "cdr", "reason", "amount_excl_vat"]
    list_filter = ["reason"]
    list_select_related = ["run", "cdr"]
    search_fields = ["=cdr__cdr_id"]
    show_full_result_count = False


@admin.register(InvoiceNumberSequence)
class InvoiceNumberSequenceAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["year", "last_number"]
