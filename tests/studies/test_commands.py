"""`manage.py create_study`: the researcher form's options from the command line."""

import pytest
from django.core.management import CommandError, call_command

from studies.models import Study
from tests.factories import UserFactory
from tests.generation.factories import StimulusSetFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def sets():
    made = {
        name: StimulusSetFactory(name=name, items=3)
        for name in ("proposed", "bilstm", "ec2vae", "vded", "real")
    }
    made["proposed-v2"] = StimulusSetFactory(name="proposed", version=2, items=3)
    return made


def test_create_study_with_every_option_and_open_it(sets, capsys):
    UserFactory(username="rita", researcher=True)
    call_command(
        "create_study",
        "--slug=cli",
        "--title=From the command line",
        "--owner=rita",
        "--condition=proposed=proposed@1",
        "--condition=bilstm=bilstm:system",
        "--condition=ec2vae=ec2vae",
        "--condition=vded=vded",
        "--condition=real=real:reference",
        "--target-participants=24",
        "--completion-code=C0DE1234",
        "--redirect-url=https://app.prolific.com/submissions/complete?cc=C0DE1234",
        "--languages=en",
        "--no-volume-check",
        "--creativity-definition=Is it original?",
        "--seed=5",
        "--analysis-option=min_panel_correlation=0.6",
        "--analysis-option=require_headphone_check=false",
        "--open",
    )
    assert "Study cli (open)" in capsys.readouterr().out
    study = Study.objects.get(slug="cli")
    assert study.status == Study.Status.OPEN and study.owner.username == "rita"
    assert [(c.name, c.stimulus_set.version, c.role) for c in study.conditions.all()] == [
        ("proposed", 1, "system"),
        ("bilstm", 1, "system"),
        ("ec2vae", 1, "system"),
        ("vded", 1, "system"),
        ("real", 1, "reference"),
    ]
    assert (study.target_participants, study.completion_code, study.languages, study.seed) == (
        24,
        "C0DE1234",
        ["en"],
        5,
    )
    assert (study.headphone_check, study.volume_check, study.practice) == (True, False, True)
    assert study.scale_definitions["creativity"] == "Is it original?"
    assert study.analysis_options == {"min_panel_correlation": 0.6, "require_headphone_check": False}


def test_newest_ready_version_is_the_default(sets):
    UserFactory(username="rita", researcher=True)
    call_command(
        "create_study",
        "--slug=v",
        "--title=V",
        "--owner=rita",
        "--condition=p=proposed",
        "--clips-per-group=1",
    )
    assert Study.objects.get(slug="v").conditions.get().stimulus_set.version == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--owner=nobody", "--condition=p=proposed"], "No user"),
        (["--condition=p=missing"], "no such"),
        (["--condition=p=proposed:boss"], "role must be"),
        (["--condition=garbage"], "NAME=SET"),
        (["--condition=p=proposed", "--languages=fr"], "languages"),
        (["--condition=p=proposed", "--redirect-url=not a url"], "redirect_url"),
        (["--condition=p=proposed", "--open"], "cannot exceed"),  # 5 clips per group from 1 condition
        (["--condition=p=proposed", "--analysis-option=min_variance"], "KEY=VALUE"),
        (["--condition=p=proposed", "--analysis-option=min_variance=0"], "unknown setting 'min_variance'"),
        (["--condition=p=proposed", "--analysis-option=min_rating_variance=low"], "must be a number"),
        (["--condition=p=proposed", "--analysis-option=max_unfinished_fraction=2"], "from 0 to 1"),
    ],
)
def test_invalid_options_are_refused_and_create_nothing(sets, args, message):
    UserFactory(username="rita", researcher=True)
    base = ["--slug=bad", "--title=Bad", "--owner=rita"]
    if any(a.startswith("--owner") for a in args):
        base = base[:2]
    with pytest.raises(CommandError, match=message):
        call_command("create_study", *base, *args)
    assert not Study.objects.exists()
