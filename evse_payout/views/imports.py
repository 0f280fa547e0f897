"""The "Import" page: upload an OCPI file of CDRs or locations; a background job imports it."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_http_methods

from ..forms.imports import ImportForm
from ..services.jobs import JobError, start_job


@require_http_methods(["GET", "POST"])
def import_file(request):
    if not (
        request.user.has_perm("evse_payout.add_cdr")
        or request.user.has_perm("evse_payout.add_location")
    ):
        raise PermissionDenied("Importing needs the Payout manager or Finance role.")
    form = ImportForm(request.POST or None, request.FILES or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            job = start_job(
                kind=form.cleaned_data["kind"],
                actor=request.user,
                parameters={
                    "file_name": form.cleaned_data["file"].name,
                    "dry_run": form.cleaned_data["dry_run"],
                },
                upload=form.cleaned_data["file"],
            )
        except JobError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(
                request,
                f"{job} started for {form.cleaned_data['file'].name}; this page follows it.",
            )
            return redirect("evse_payout:job_detail", pk=job.pk)
    return render(request, "evse_payout/import_form.html", {"title": "Import", "form": form})


urlpatterns = [path("import/", import_file, name="import_file")]
