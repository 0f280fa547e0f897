from django.db.models import Count, Exists, OuterRef, Q
from django.shortcuts import render
from django.urls import path

from ..models import CDR, EVSE, Assignment, CDRStatus, PayoutAccount


def home(request):
    if not request.user.has_perm("evse_payout.view_evse"):
        # A login without a role sees the way forward, not the network's figures.
        return render(
            request, "evse_payout/home.html", {"title": "EVSE payout back office", "no_role": True}
        )
    open_assignment = Assignment.objects.open().filter(evse=OuterRef("pk"))
    evse_counts = EVSE.objects.active().aggregate(
        assigned=Count("pk", filter=Q(Exists(open_assignment))),
        total=Count("pk"),
    )
    context = {
        "title": "EVSE payout back office",
        "assigned_count": evse_counts["assigned"],
        "unassigned_count": evse_counts["total"] - evse_counts["assigned"],
        "not_invoiceable_count": CDR.objects.filter(status=CDRStatus.NOT_INVOICEABLE).count(),
        "active_account_count": PayoutAccount.objects.active().count(),
    }
    return render(request, "evse_payout/home.html", context)


urlpatterns = [path("", home, name="home")]
