"""Pages of this area; routes are declared in `urlpatterns` at the bottom."""

from django.shortcuts import render
from django.urls import path


def invoice_run_list(request):
    return render(request, "evse_payout/base.html", {"title": "Invoice runs"})


urlpatterns = [path("invoice-runs/", invoice_run_list, name="invoice_run_list")]
