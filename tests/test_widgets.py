"""QuickSelect writes exactly the HTML Django's own Select template writes."""

import pytest
from django import forms

from evse_payout.forms.widgets import QuickSelect

CHOICES = [
    ("", "All"),
    ("own", "Own <EVSEs> & more"),
    (7, 'Hotel "De Zon"'),
    ("Group", [("a", "Alpha"), ("b", "Beta")]),
]


@pytest.mark.parametrize(
    ("value", "attrs"),
    [
        ("", {"id": "id_sub_cpo"}),
        ("own", {"id": "id_sub_cpo", "class": "wide"}),
        ("7", {"id": "id_sub_cpo", "required": True, "disabled": False}),
        ("b", None),
        (None, {"aria-describedby": "help <1>"}),
    ],
)
def test_quick_select_renders_as_django_select(value, attrs):
    expected = forms.Select(choices=CHOICES).render("sub_cpo", value, attrs)
    assert QuickSelect(choices=CHOICES).render("sub_cpo", value, attrs) == expected


def test_a_bound_form_field_renders_the_same():
    class Form(forms.Form):
        plain = forms.ChoiceField(choices=CHOICES, required=False)
        quick = forms.ChoiceField(choices=CHOICES, required=False, widget=QuickSelect)

    form = Form({"plain": "own", "quick": "own"})
    assert str(form["quick"]) == str(form["plain"]).replace("plain", "quick")
