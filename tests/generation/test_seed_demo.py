"""seed_demo and generate_stimuli: the demo's sets, equal in length and loudness, and the open study `demo`."""

import math
from io import StringIO

import pytest
import torch
from django.core.management import CommandError, call_command

from generation.checkpoints import save_checkpoint
from generation.models import Stimulus, StimulusSet
from generation.nets.base import build_model
from tests.generation import stimuli_fixtures
from tests.generation.stimuli_fixtures import CORPUS

pytestmark = pytest.mark.django_db
heldout_corpus = stimuli_fixtures.heldout_corpus
tiny_checkpoint = stimuli_fixtures.tiny_checkpoint
SMALL = {"items": 3, "seconds": 4.0, "corpus": CORPUS, "no_progress": True}


@pytest.fixture
def checkpoint_folder(tmp_path):
    """Tiny checkpoints of the four model conditions, named like generation/pretrained/."""
    torch.manual_seed(0)
    folder = tmp_path / "pretrained"
    for variant in ("proposed", "bilstm", "ec2vae", "vded"):
        save_checkpoint(build_model(variant, "tiny"), folder / variant)
    return folder


def run(*args, **options) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def test_seed_demo_builds_five_conditions_and_opens_the_study_once(heldout_corpus, checkpoint_folder):
    from studies.models import Study

    out, err = run("seed_demo", checkpoints=str(checkpoint_folder), **SMALL)
    assert "SKIPPING" not in err, err
    study = Study.objects.get(slug="demo")
    assert study.status == "open"
    assert (study.groups, study.clips_per_group) == (3, 5)
    conditions = {c.name: (c.role, c.stimulus_set) for c in study.conditions.all()}
    assert set(conditions) == {"proposed", "bilstm", "ec2vae", "vded", "real"}
    assert conditions["real"][0] == "reference"
    assert StimulusSet.objects.filter(name="low-anchor", status="ready").exists()
    # Every clip of every set: the same items, the same length, loudness within 0.5 LU.
    stimuli = Stimulus.objects.all()
    assert stimuli.count() == 6 * 3
    assert len({s.duration_s for s in stimuli}) == 1
    loudness = [s.loudness_lufs for s in stimuli]
    assert max(loudness) - min(loudness) < 0.5
    items = {s.stimulus_set.name: [x.item_key for x in s.stimulus_set.stimuli.all()] for s in stimuli}
    assert len({tuple(v) for v in items.values()}) == 1
    assert "spread" in out
    # Running it again makes nothing new.
    before = sorted(StimulusSet.objects.values_list("pk", "version"))
    out, _ = run("seed_demo", checkpoints=str(checkpoint_folder), **SMALL)
    assert sorted(StimulusSet.objects.values_list("pk", "version")) == before
    assert Stimulus.objects.count() == 18
    assert "open already" in out


def test_seed_demo_says_loudly_what_it_skips(heldout_corpus, tmp_path):
    out, err = run("seed_demo", checkpoints=str(tmp_path / "empty"), **SMALL)
    for variant in ("proposed", "bilstm", "ec2vae", "vded"):
        assert f"SKIPPING condition '{variant}'" in err
    assert "NOT created" in err
    assert StimulusSet.objects.filter(status="ready").count() == 2  # real and low anchor


def test_generate_stimuli_builds_a_new_version_from_a_checkpoint(heldout_corpus, tiny_checkpoint):
    out, _ = run("generate_stimuli", variant="proposed", checkpoint=str(tiny_checkpoint), **SMALL)
    assert "proposed v1: 3 clips ready" in out
    run("generate_stimuli", variant="proposed", checkpoint=str(tiny_checkpoint), seed=100, **SMALL)
    assert list(StimulusSet.objects.filter(name="proposed").values_list("version", flat=True)) == [2, 1]
    low = StimulusSet.objects.get(name="proposed", version=2).stimuli.first()
    assert low.seed == 100 and math.isclose(low.loudness_lufs, -23.0, abs_tol=0.05)
    with pytest.raises(CommandError, match="no committed checkpoint|not 'bilstm'"):
        run("generate_stimuli", variant="bilstm", checkpoint=str(tiny_checkpoint), **SMALL)
