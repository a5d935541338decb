"""The consent form with its optional questionnaire (the only HTML form a volunteer posts)."""

from django import forms
from django.utils.translation import gettext_lazy as _

BLANK = [("", _("Prefer not to say"))]
AGE_BANDS = BLANK + [
    ("18-24", "18-24"),
    ("25-34", "25-34"),
    ("35-44", "35-44"),
    ("45-54", "45-54"),
    ("55-64", "55-64"),
    ("65+", _("65 or older")),
]
MUSICAL_TRAINING = BLANK + [
    ("none", _("None")),
    ("lt2", _("Less than 2 years")),
    ("2-5", _("2 to 5 years")),
    ("5-10", _("5 to 10 years")),
    ("gt10", _("More than 10 years")),
]
LISTENING_DEVICES = BLANK + [
    ("over_ear", _("Over-ear or on-ear headphones")),
    ("in_ear", _("In-ear headphones or earbuds")),
    ("speakers", _("Loudspeakers")),
    ("device_speaker", _("The speaker of my phone or laptop")),
]
QUESTIONNAIRE_FIELDS = ("age_band", "musical_training", "listening_device")


class ConsentForm(forms.Form):
    consent = forms.BooleanField(
        label=_("I have read the information above and agree to take part."),
        error_messages={"required": _("Please give your consent to take part, or close this page.")},
    )
    consent_version = forms.CharField(widget=forms.HiddenInput, max_length=40)
    # Prolific passes these in the link; they ride along as hidden fields until the volunteer joins.
    # Checked by the join service (services.prolific_id_clean), which says what is wrong with them.
    prolific_pid = forms.CharField(widget=forms.HiddenInput, required=False, max_length=200)
    study_id = forms.CharField(widget=forms.HiddenInput, required=False, max_length=200)
    session_id = forms.CharField(widget=forms.HiddenInput, required=False, max_length=200)
    age_band = forms.ChoiceField(label=_("Age"), choices=AGE_BANDS, required=False)
    musical_training = forms.ChoiceField(
        label=_("Years of musical training"), choices=MUSICAL_TRAINING, required=False
    )
    listening_device = forms.ChoiceField(
        label=_("What will you listen with?"), choices=LISTENING_DEVICES, required=False
    )

    def questionnaire_fields(self):
        return [self[name] for name in QUESTIONNAIRE_FIELDS]

    def questionnaire(self) -> dict[str, str]:
        """The answers given; unanswered questions are left out."""
        return {name: self.cleaned_data[name] for name in QUESTIONNAIRE_FIELDS if self.cleaned_data[name]}
