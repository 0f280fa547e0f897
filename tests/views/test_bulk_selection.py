"""The one bulk-selection form and resolve_selection(), as the EVSE and CDR pages use them."""

import pytest
from django.http import QueryDict

from evse_payout.filters.cdrs import filter_cdrs
from evse_payout.filters.evses import EVSEFilterSet
from evse_payout.forms.assignments import EVSESelectionForm
from evse_payout.forms.cdrs import CDRRerateForm
from evse_payout.forms.selection import MAX_CHECKED, resolve_selection
from evse_payout.models import CDR, EVSE
from tests.factories import CDRFactory, EVSEFactory

pytestmark = pytest.mark.django_db


def form(form_class, **data):
    query = QueryDict(mutable=True)
    for key, value in data.items():
        query.setlist(key, value if isinstance(value, list) else [value])
    bound = form_class(query)
    bound.is_valid()
    return bound


def test_checked_rows_resolve_to_those_rows():
    wanted, _other = CDRFactory(), CDRFactory()
    selection = form(CDRRerateForm, pk=[str(wanted.pk)])

    cdrs = resolve_selection(selection, checked_among=CDR.objects.all(), matching=filter_cdrs)

    assert list(cdrs) == [wanted]


def test_all_matching_resolves_the_reposted_filters_again():
    gent = [EVSEFactory(location__city="Gent") for _ in range(2)]
    EVSEFactory(location__city="Brugge")
    selection = form(EVSESelectionForm, select_across="1", filters="city=Gent")

    evses = resolve_selection(
        selection,
        checked_among=EVSE.objects.none(),
        matching=lambda data: EVSEFilterSet(data, queryset=EVSE.objects.all()),
    )

    assert set(evses) == set(gent)


def test_invalid_reposted_filters_resolve_to_none():
    selection = form(CDRRerateForm, select_all="on", filters="ended_after=not-a-date")

    assert (
        resolve_selection(selection, checked_among=CDR.objects.all(), matching=filter_cdrs) is None
    )


@pytest.mark.parametrize(
    ("form_class", "field"), [(EVSESelectionForm, "evse"), (CDRRerateForm, "pk")]
)
def test_too_many_checked_rows_are_refused_with_the_same_words(form_class, field):
    selection = form(form_class, **{field: [str(n) for n in range(MAX_CHECKED + 1)]})

    assert not selection.is_valid()
    assert f"Tick at most {MAX_CHECKED:,} {form_class.noun}s" in str(selection.errors)


@pytest.mark.parametrize(
    ("form_class", "field"), [(EVSESelectionForm, "evse"), (CDRRerateForm, "pk")]
)
def test_tampered_ids_are_refused(form_class, field):
    selection = form(form_class, **{field: ["1; DROP"]})

    assert "The selection is not valid; reload the list." in str(selection.errors)
