"""The EVSE page: its details, assignment history and CDR counts."""

from django.contrib.auth.decorators import permission_required
from django.http import Http404
from django.shortcuts import render
from django.urls import path
from django.views.decorators.http import require_GET

from ..models import CPO_OWN_LABEL, EVSE
from ..selectors.accounts import evse_assignment_history, evse_cdr_counts, evse_for_page


@permission_required("evse_payout.view_evse", raise_exception=True)
@require_GET
def evse_detail(request, pk):
    try:
        evse = evse_for_page(pk)
    except EVSE.DoesNotExist as exc:
        raise Http404("No such EVSE.") from exc
    history = list(evse_assignment_history(evse))
    return render(
        request,
        "evse_payout/evse_detail.html",
        {
            "title": f"EVSE {evse.evse_id}",
            "evse": evse,
            "location": evse.location,
            "connectors": list(evse.connectors.all()),
            "history": history,
            "current": history[0] if history and history[0].is_open else None,
            "cdr_counts": evse_cdr_counts(evse),
            "cpo_own_label": CPO_OWN_LABEL,
        },
    )


urlpatterns = [path("evses/<int:pk>/", evse_detail, name="evse_detail")]
