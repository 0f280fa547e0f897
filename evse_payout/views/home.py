from django.shortcuts import render
from django.urls import path

from ..models import CDR, EVSE, CDRStatus, PayoutAccount, UnassignedEVSE


def home(request):
    if not request.user.has_perm("evse_payout.view_evse"):
        # A login without a role sees the way forward, not the network's figures.
        return render(
            request, "evse_payout/home.html", {"title": "EVSE payout back office", "no_role": True}
        )
    # The unassigned ones are the rows of the narrow table the database keeps of them.
    unassigned = UnassignedEVSE.objects.count()
    context = {
        "title": "EVSE payout back office",
        "assigned_count": EVSE.objects.active().count() - unassigned,
        "unassigned_count": unassigned,
        "not_invoiceable_count": CDR.objects.with_status(CDRStatus.NOT_INVOICEABLE).count(),
        "active_account_count": PayoutAccount.objects.active().count(),
    }
    return render(request, "evse_payout/home.html", context)


urlpatterns = [path("", home, name="home")]
