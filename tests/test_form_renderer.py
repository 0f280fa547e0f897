"""QuickFormRenderer writes, character for character, what Django's own templates write."""

import datetime

import pytest
from django import forms
from django.forms.renderers import DjangoTemplates
from django_filters.widgets import RangeWidget

from evse_payout.filters.cdrs import CDRFilterSet
from evse_payout.filters.evses import AssignedEVSEFilterSet, OutputRangeWidget
from evse_payout.forms.renderers import QuickFormRenderer
from evse_payout.models import CDR, EVSE
from tests.factories import PayoutAccountFactory, SubCPOFactory

CHOICES = [
    ("", "All"),
    ("own", "Own <EVSEs> & more"),
    (7, 'Hotel "De Zon"'),
    ("Group", [("a", "Alpha"), ("b", "Beta")]),
]


class Everything(forms.Form):
    text = forms.CharField(
        label="Name <b>", widget=forms.TextInput(attrs={"placeholder": "a & b", "autofocus": True})
    )
    number = forms.DecimalField(required=False)
    day = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    search = forms.CharField(widget=forms.TextInput(attrs={"type": "search"}), required=False)
    hidden = forms.CharField(widget=forms.HiddenInput, required=False)
    choice = forms.ChoiceField(choices=CHOICES, required=False)
    grouped = forms.MultipleChoiceField(
        choices=CHOICES[1:], widget=forms.CheckboxSelectMultiple, required=False
    )
    radio = forms.ChoiceField(choices=CHOICES[1:3], widget=forms.RadioSelect)
    range = forms.CharField(widget=RangeWidget, required=False)
    output = forms.CharField(widget=OutputRangeWidget, required=False)
    flag = forms.BooleanField(required=False)
    notes = forms.CharField(widget=forms.Textarea, required=False)  # left to Django's template


DATA = [
    {},
    {
        "text": "x\"'<>",
        "number": "1.5",
        "day": "2026-12-01",
        "choice": "own",
        "grouped": ["own", "b"],
        "radio": "7",
        "range_min": "1",
        "range_max": "<2>",
        "flag": "on",
        "hidden": "h&",
    },
]


def rendered(form_class, data, renderer, initial=None):
    form = form_class(data, renderer=renderer, initial=initial) if data is not None else None
    form = form or form_class(renderer=renderer, initial=initial)
    return [
        (str(bound.label_tag()), str(bound), str(bound.errors), bound.as_field_group())
        for bound in form
    ]


@pytest.mark.parametrize("data", [*DATA, None])
def test_every_widget_and_label_renders_as_django_renders_it(data):
    initial = {"day": datetime.date(2026, 1, 31), "choice": 7}
    quick = rendered(Everything, data, QuickFormRenderer(), initial)
    django = rendered(Everything, data, DjangoTemplates(), initial)
    assert quick == django


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("filterset_class", "model"), [(CDRFilterSet, CDR), (AssignedEVSEFilterSet, EVSE)]
)
def test_the_filter_forms_render_as_django_renders_them(filterset_class, model):
    SubCPOFactory(name="Hotel <De Zon>")
    PayoutAccountFactory(name="Payout & co")
    data = {"city": "Gent", "power_type": ["DC"], "output_min": "3", "status": "rated"}
    forms_html = []
    for renderer in (QuickFormRenderer(), DjangoTemplates()):
        form = filterset_class(data, queryset=model.objects.none()).form
        form.renderer = renderer
        forms_html.append([(str(bound.label_tag()), str(bound)) for bound in form])
    assert forms_html[0] == forms_html[1]
