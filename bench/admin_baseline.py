"""The fair admin baselines of the page scenarios (issue 14, "Pages").

What a Django developer would build with the admin alone for the same pages, on a bench-only
AdminSite (`/bench-admin/`, bench settings only) so the product's admin stays as it is:

- unassigned EVSEs: the EVSE changelist with list filters on the location's city, country and
  owner, the power type, and "unassigned" (not removed, no open assignment), the same columns as
  the product page (but the CDR figures, which the admin cannot show cheaply), rows and their
  location and owner in one query; filtered by the exact city, as a person picks it in the filter;
  "unassigned" reads the same narrow table of unassigned EVSEs as the product;
- assigned EVSEs: the Assignment changelist of one account's open assignments, with the tab's
  columns (EVSE ID, location, city, owner, power type).

Like the product's admin, neither counts the whole table (`show_full_result_count = False`).
"""

from django.contrib import admin

from evse_payout.models import CDR, EVSE, Assignment

site = admin.AdminSite(name="bench_admin")


class UnassignedFilter(admin.SimpleListFilter):
    """The product's "unassigned": not removed and without an open assignment.

    At its best, as the product reads it: through the narrow table the database keeps of exactly
    those EVSEs (`UnassignedEVSE`), not with the anti-join of every EVSE it replaced.
    """

    title = "assignment"
    parameter_name = "unassigned"

    def lookups(self, request, model_admin):
        return [("yes", "Unassigned")]

    def queryset(self, request, queryset):
        if self.value() != "yes":
            return queryset
        return queryset.filter(unassigned_entry__isnull=False)


@admin.register(EVSE, site=site)
class UnassignedEVSEAdmin(admin.ModelAdmin):
    list_display = [
        "evse_id",
        "location__owner",
        "output_kw",
        "power_type",
        "location__address",
        "location__postal_code",
        "location__city",
        "location__country",
    ]
    list_filter = [
        "location__city",
        "location__country",
        "location__owner",
        "power_type",
        UnassignedFilter,
    ]
    list_select_related = ["location__owner"]
    show_full_result_count = False


@admin.register(Assignment, site=site)
class AssignedEVSEAdmin(admin.ModelAdmin):
    list_display = [
        "evse__evse_id",
        "evse__location",
        "evse__location__city",
        "evse__location__owner",
        "evse__power_type",
    ]
    list_filter = ["payout_account", ("unassigned_at", admin.EmptyFieldListFilter)]
    # payout_account: the row checkbox is labelled with the assignment, which names it.
    list_select_related = ["evse__location__owner", "payout_account"]
    show_full_result_count = False


# The CDR overview's baseline stays the product's CDR changelist.
site.register(CDR, type(admin.site._registry[CDR]))
