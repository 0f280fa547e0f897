"""Pages of this area; routes are declared in `urlpatterns` at the bottom."""

from django.shortcuts import render
from django.urls import path


def account_list(request):
    return render(request, "evse_payout/base.html", {"title": "Payout accounts"})


urlpatterns = [path("accounts/", account_list, name="account_list")]
