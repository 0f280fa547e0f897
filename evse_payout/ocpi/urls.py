"""OCPI 2.2.1 receiver routes (token auth, no login), mounted at /ocpi/2.2.1/."""

from django.urls import path, re_path

from . import views

app_name = "ocpi"

urlpatterns = [
    re_path(r"^cdrs/?$", views.cdr_create, name="cdrs"),
    path("cdrs/<path:cdr_id>", views.cdr_detail, name="cdr_detail"),
    path(
        "locations/<str:country_code>/<str:party_id>/<str:location_id>",
        views.location,
        name="location",
    ),
    path(
        "locations/<str:country_code>/<str:party_id>/<str:location_id>/<str:evse_uid>",
        views.location_evse,
        name="location_evse",
    ),
    # Any other path, also one with a newline (which `.` and `<path:…>` do not match).
    re_path(r"^(?P<path>[\s\S]*)\Z", views.unknown),
]
