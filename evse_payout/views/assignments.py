"""Pages of this area; routes are declared in `urlpatterns` at the bottom."""

from django.shortcuts import render
from django.urls import path


def evses_unassigned(request):
    return render(request, "evse_payout/base.html", {"title": "Payout EVSE assignment"})


urlpatterns = [path("assignment/", evses_unassigned, name="evses_unassigned")]
