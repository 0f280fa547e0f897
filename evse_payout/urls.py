"""Every views module declares its own routes; this joins them under the `evse_payout` namespace."""

from .views import accounts, assignments, cdrs, documents, evses, home, invoicing

app_name = "evse_payout"

urlpatterns = [
    *home.urlpatterns,
    *assignments.urlpatterns,
    *accounts.urlpatterns,
    *evses.urlpatterns,
    *cdrs.urlpatterns,
    *invoicing.urlpatterns,
    *documents.urlpatterns,
]
