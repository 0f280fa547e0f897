"""Every views module declares its own routes; this joins them under the `evse_payout` namespace."""

from .views import accounts, assignments, cdrs, documents, evses, home, imports, invoicing, jobs

app_name = "evse_payout"

urlpatterns = [
    *home.urlpatterns,
    *assignments.urlpatterns,
    *accounts.urlpatterns,
    *evses.urlpatterns,
    *cdrs.urlpatterns,
    *invoicing.urlpatterns,
    *jobs.urlpatterns,
    *imports.urlpatterns,
    *documents.urlpatterns,
]
