"""The "Import" page's form: what the file holds, the file, and whether only to check it."""

from django import forms

from ..models import JobKind

IMPORT_CHOICES = [
    (JobKind.IMPORT_CDRS.value, "CDRs (OCPI 2.2.1)"),
    (JobKind.IMPORT_LOCATIONS.value, "Locations with their EVSEs (OCPI 2.2.1)"),
]


class ImportForm(forms.Form):
    kind = forms.ChoiceField(
        label="The file holds", choices=IMPORT_CHOICES, widget=forms.RadioSelect
    )
    file = forms.FileField(
        label="File",
        help_text="A JSON list, one JSON object, or one object per line (JSON Lines), UTF-8.",
    )
    dry_run = forms.BooleanField(
        label="Only check the file (dry run): report what would be imported, write nothing",
        required=False,
    )

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        allowed = {
            JobKind.IMPORT_CDRS.value: user is not None and user.has_perm("evse_payout.add_cdr"),
            JobKind.IMPORT_LOCATIONS.value: user is not None
            and user.has_perm("evse_payout.add_location"),
        }
        self.fields["kind"].choices = [c for c in IMPORT_CHOICES if allowed[c[0]]]
