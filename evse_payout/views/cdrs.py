"""Pages of this area; routes are declared in `urlpatterns` at the bottom."""

from django.shortcuts import render
from django.urls import path


def cdr_list(request):
    return render(request, "evse_payout/base.html", {"title": "CDR overview"})


urlpatterns = [path("cdrs/", cdr_list, name="cdr_list")]
