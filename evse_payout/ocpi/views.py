"""OCPI 2.2.1 receiver endpoints: thin — read the body, call one service, answer in the envelope."""

from django.db.models import Q
from django.urls import reverse

from ..models import CDR
from ..services.ocpi_ingest import ingest_cdr, upsert_evse, upsert_location
from .auth import ocpi_endpoint
from .envelope import CLIENT_ERROR, ocpi_error, ocpi_response, read_json_body


def _peer(token) -> str:
    return f"OCPI peer “{token.name}”"[:150]


@ocpi_endpoint("POST")
def cdr_create(request, token):
    result = ingest_cdr(
        payload=read_json_body(request), actor_name=_peer(token), parties=token.party_keys()
    )
    response = ocpi_response(
        message="CDR stored" if result.created else "CDR already received; stored once"
    )
    response["Location"] = request.build_absolute_uri(
        reverse("ocpi:cdr_detail", args=[result.cdr.cdr_id])
    )
    return response


@ocpi_endpoint("GET")
def cdr_detail(request, token, cdr_id):
    # Only the token's own parties' CDRs: another party's CDR is as unknown as a missing one.
    own = Q(pk__in=[])
    for country_code, party_id in token.party_keys():
        own |= Q(country_code=country_code, party_id=party_id)
    cdr = CDR.objects.filter(own, cdr_id=cdr_id).order_by("pk").only("raw").first()
    if cdr is None:
        return ocpi_error(f"Unknown CDR {cdr_id}", status_code=CLIENT_ERROR, http_status=404)
    return ocpi_response(cdr.raw)


@ocpi_endpoint("PUT", "PATCH")
def location(request, token, country_code, party_id, location_id):
    result = upsert_location(
        country_code=country_code,
        party_id=party_id,
        location_id=location_id,
        payload=read_json_body(request),
        partial=request.method == "PATCH",
        actor_name=_peer(token),
    )
    return ocpi_response(
        message=f"Location {'created' if result.created else 'updated'}: "
        f"{result.evses_created} EVSEs created, {result.evses_updated} updated"
    )


@ocpi_endpoint("PUT", "PATCH")
def location_evse(request, token, country_code, party_id, location_id, evse_uid):
    result = upsert_evse(
        country_code=country_code,
        party_id=party_id,
        location_id=location_id,
        evse_uid=evse_uid,
        payload=read_json_body(request),
        partial=request.method == "PATCH",
        actor_name=_peer(token),
    )
    return ocpi_response(message="EVSE created" if result.evses_created else "EVSE updated")


@ocpi_endpoint("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
def unknown(request, token, path=""):
    return ocpi_error("Unknown OCPI endpoint.", http_status=404)
