"""MUSHRA and pairwise studies from the database to the zip: frames, export (staff only), command, live results."""

import io
import zipfile
from datetime import timedelta

import pandas as pd
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone

from studies import services
from studies.analysis.designs_data import mushra_frame, pairwise_frame
from studies.models import MushraScore, Page, PageClip, PairwiseChoice, Participant
from tests.factories import UserFactory
from tests.studies.factories import OpenStudyFactory, ParticipantFactory, StudyFactory

pytestmark = pytest.mark.django_db

# cond0-2 systems, cond3 the hidden reference, cond4 the low anchor (factories.StudyFactory)
MUSHRA_PLANTED = {"cond0": 80, "cond1": 50, "cond2": 40, "cond3": 100, "cond4": 10}
MUSHRA_OPTIONS = {
    "reference": "cond3",
    "anchor": "cond4",
    "scales": [{"key": "quality", "label": "Basic audio quality"}],
    "items_per_volunteer": 3,
}
PAIRWISE_OPTIONS = {
    "questions": [{"key": "preference", "text": "Which clip do you prefer?"}],
    "pairs_per_volunteer": 3,
}


def volunteer(study, k: int, status=Participant.Status.COMPLETED) -> Participant:
    now = timezone.now()
    return Participant.objects.create(
        study=study, prolific_pid=f"PROLIFIC{k:02d}", consent_version=study.consent_version, consented_at=now,
        assignment_seed=k, last_seen_at=now, status=status, volume_checked=True, headphone_passed=True,
    )  # fmt: skip


def page_of(participant, position, item, conditions, *, practice=False) -> list[PageClip]:
    page = Page.objects.create(
        participant=participant, position=position, item_key=item, is_practice=practice
    )
    now = timezone.now()
    return [
        PageClip.objects.create(
            page=page,
            condition=c,
            stimulus=c.stimulus_set.stimuli.get(item_key=item),
            slot=slot,
            plays=1,
            first_played_at=now,
            ended_at=now,
        )  # fmt: skip
        for slot, c in enumerate(conditions)
    ]


@pytest.fixture
def mushra_study():
    """6 volunteers score every condition of the 3 items; the last scores the hidden reference 60,
    and a practice page that must not count."""
    study = StudyFactory(slug="mushra-analysis", test_type="mushra", design_options=MUSHRA_OPTIONS)
    conditions = list(study.conditions.order_by("id"))
    items = sorted(conditions[0].stimulus_set.stimuli.values_list("item_key", flat=True))
    people = [volunteer(study, k) for k in range(6)]
    for k, person in enumerate(people):
        page_of(person, 0, items[0], conditions[::-1], practice=True)  # practice: scored, not analysed
        for clip in PageClip.objects.filter(page__participant=person, page__is_practice=True):
            MushraScore.objects.create(page_clip=clip, scale="quality", score=0)
        for position, item in enumerate(items, start=1):
            shuffled = conditions[k % 5 :] + conditions[: k % 5]  # each volunteer's own slot order
            for clip in page_of(person, position, item, shuffled):
                score = MUSHRA_PLANTED[clip.condition.name]
                if k == 5 and clip.condition.name == "cond3":
                    score = 60
                MushraScore.objects.create(page_clip=clip, scale="quality", score=score)
    return study, people


@pytest.fixture
def pairwise_study():
    """6 volunteers judge the 3 pairs of cond0-2 once each, sides alternating; cond0 wins most."""
    study = StudyFactory(
        slug="pairwise-analysis", test_type="pairwise", design_options=PAIRWISE_OPTIONS, conditions=3
    )
    c0, c1, c2 = study.conditions.order_by("id")
    items = sorted(c0.stimulus_set.stimuli.values_list("item_key", flat=True))
    people = [volunteer(study, k) for k in range(6)]
    for k, person in enumerate(people):
        for position, (a, b, winner) in enumerate(
            [(c0, c1, c1 if k == 0 else c0), (c0, c2, c2 if k == 1 else c0), (c1, c2, c2 if k == 2 else c1)],
            start=1,
        ):
            sides = (a, b) if (k + position) % 2 else (b, a)
            clips = page_of(person, position, items[(k + position) % 3], sides)
            chosen = next(c for c in clips if c.condition == winner)
            PairwiseChoice.objects.create(page=chosen.page, question="preference", chosen=chosen)
    return study, people


def _zip(client, study) -> zipfile.ZipFile:
    response = client.get(f"/researcher/studies/{study.slug}/export.zip")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    return zipfile.ZipFile(io.BytesIO(response.content))


def test_mushra_frame_is_pseudonymous_and_skips_practice(mushra_study):
    study, people = mushra_study
    frame = mushra_frame(study)
    assert len(frame) == 6 * 3 * 5
    assert MushraScore.objects.filter(page_clip__page__is_practice=True).count() == 6 * 5
    assert set(frame["participant"]) == {f"P{p.pk:04d}" for p in people}
    assert set(frame["role"]) == {"system", "reference", "low_anchor"}
    assert (frame["score"] > 0).all()  # the practice scores (0) are not there


def test_mushra_export_holds_everything_screens_and_stays_blind(mushra_study, client):
    study, people = mushra_study
    client.force_login(UserFactory(username="admin", is_staff=True))
    archive = _zip(client, study)
    names = set(archive.namelist())
    sheets = {
        "scores",
        "flow",
        "flow_by_condition",
        "summary",
        "by_item",
        "tests",
        "exclusions",
        "screening_criteria",
    }
    assert {f"{s}.csv" for s in sheets} | {"analysis.xlsx", "report.html", "config.json"} <= names
    assert {
        f"figures/{f}.{e}" for f in ("flow", "means_screened", "means_all") for e in ("png", "svg")
    } <= names
    everything = b"".join(archive.read(n) for n in names if not n.endswith((".png", ".xlsx")))
    for p in people:
        assert p.token.encode() not in everything and p.prolific_pid.encode() not in everything
    exclusions = pd.read_csv(archive.open("exclusions.csv")).set_index("participant")
    odd = f"P{people[5].pk:04d}"
    assert exclusions.index[exclusions["excluded"]].tolist() == [odd]
    assert (
        exclusions.loc[odd, "reasons"] == "reference_scored_low"
        and exclusions.loc[odd, "reference_low_fraction"] == 1.0
    )
    summary = pd.read_csv(archive.open("summary.csv"))
    screened = summary[summary["variant"] == "screened"]
    assert screened["condition"].tolist() == ["cond0", "cond1", "cond2", "cond3", "cond4"]
    assert screened.set_index("condition")["mean"].to_dict() == pytest.approx(MUSHRA_PLANTED)
    assert screened["listeners"].tolist() == [5] * 5
    everyone = summary[summary["variant"] == "all"].set_index("condition")
    assert everyone.loc["cond3", "mean"] == pytest.approx((5 * 100 + 60) / 6)
    tests = pd.read_csv(archive.open("tests.csv"))
    friedman = tests[(tests["variant"] == "screened") & (tests["test"] == "friedman")].iloc[0]
    assert friedman["n"] == 5 and friedman["p"] < 0.01
    flow = pd.read_csv(archive.open("flow.csv")).set_index("stage")["listeners"].to_dict()
    assert flow["joined (consented)"] == 6 and flow["scored at least one page"] == 6 and flow["analysed"] == 5
    assert set(pd.read_excel(io.BytesIO(archive.read("analysis.xlsx")), sheet_name=None)) == sheets
    report = archive.read("report.html").decode()
    assert report.count("<svg") == 3 and 'src="figures/' not in report and "<img" not in report
    assert "BS.1534-3" in report and odd in report and "hidden reference below 90" in report


def test_pairwise_frame_reads_sides_from_slots(pairwise_study):
    study, people = pairwise_study
    frame = pairwise_frame(study)
    assert len(frame) == 6 * 3
    for choice in PairwiseChoice.objects.select_related("page", "chosen__condition"):
        clips = {c.slot: c.condition.name for c in choice.page.clips.select_related("condition")}
        row = frame[(frame["participant"] == f"P{choice.page.participant_id:04d}") & (frame["item"] == choice.page.item_key)
                    & (frame["left"] == clips[0])]  # fmt: skip
        assert (
            len(row) >= 1
            and clips[1] in set(row["right"])
            and choice.chosen.condition.name in set(row["winner"])
        )
    assert (frame["winner"] == frame["left"]).sum() not in (0, len(frame))


def test_pairwise_export_and_live_results(pairwise_study, client):
    study, people = pairwise_study
    client.force_login(UserFactory(username="admin", is_staff=True))
    archive = _zip(client, study)
    names = set(archive.namelist())
    sheets = {"choices", "flow", "flow_by_condition", "win_rates", "pairs", "bradley_terry", "position_bias",
              "exclusions", "screening_criteria"}  # fmt: skip
    assert {f"{s}.csv" for s in sheets} | {
        "analysis.xlsx",
        "report.html",
        "figures/bradley_terry.svg",
    } <= names
    pairs = pd.read_csv(archive.open("pairs.csv"))
    screened = pairs[pairs["variant"] == "screened"].set_index(["condition", "versus"])
    assert screened.loc[("cond0", "cond1"), ["n", "wins", "losses"]].tolist() == [6, 5, 1]
    assert screened.loc[("cond1", "cond2"), ["n", "wins", "losses"]].tolist() == [6, 5, 1]
    bt = pd.read_csv(archive.open("bradley_terry.csv"))
    bt = bt[bt["variant"] == "screened"].set_index("condition")["log_strength"]
    assert bt["cond0"] > bt["cond1"] > bt["cond2"] and bt.sum() == pytest.approx(0, abs=1e-9)
    everything = b"".join(archive.read(n) for n in names if not n.endswith((".png", ".xlsx")))
    for p in people:
        assert p.token.encode() not in everything and p.prolific_pid.encode() not in everything
    report = archive.read("report.html").decode()
    assert report.count("<svg") == 3 and "Bradley" in report and "Position bias" in report
    client.force_login(study.owner)
    assert client.get(f"/researcher/studies/{study.slug}/export.zip").status_code == 403
    data = client.get(reverse("analysis:summary", kwargs={"slug": study.slug})).json()
    assert data["design"] == "pairwise" and (data["listeners"], data["ratings"]) == (6, 18)
    rows = {r["condition"]: r for r in data["rows"]}
    assert rows["cond0"]["log_strength"] == pytest.approx(round(bt["cond0"], 3))
    page = client.get(reverse("researcher:study-detail", kwargs={"slug": study.slug})).content.decode()
    assert 'id="live-summary-table"' in page and "Log-strength" in page


def test_mushra_live_results_on_the_study_page(mushra_study, client):
    study, _ = mushra_study
    client.force_login(study.owner)
    data = client.get(reverse("analysis:summary", kwargs={"slug": study.slug})).json()
    assert data["design"] == "mushra" and (data["listeners"], data["excluded"]) == (6, 1)
    rows = {r["condition"]: r for r in data["rows"]}
    assert rows["cond3"]["mean"] == 100 and rows["cond3"]["listeners"] == 5
    page = client.get(reverse("researcher:study-detail", kwargs={"slug": study.slug})).content.decode()
    assert "post-screening" in page and "<svg" in page


def test_export_command_for_each_design(mushra_study, tmp_path, capsys):
    study, _ = mushra_study
    out = tmp_path / "m.zip"
    call_command("export_analysis", "--study", study.slug, "--out", str(out))
    assert "by_item.csv" in zipfile.ZipFile(out).namelist()
    with pytest.raises(CommandError, match="is a mushra study, not pairwise"):
        call_command("export_analysis", "--study", study.slug, "--test-type", "pairwise", "--out", str(out))
    for test_type, needle in (("mushra", "anchor_scored_high"), ("pairwise", "one_side_only")):
        target = tmp_path / f"{test_type}.zip"
        call_command("export_analysis", "--synthetic", "12", "--test-type", test_type, "--out", str(target))
        archive = zipfile.ZipFile(target)
        assert needle in archive.read("exclusions.csv").decode()
        assert "report.html" in archive.namelist()
    printed = capsys.readouterr().out
    assert "12 listeners, 2 excluded" in printed and "12 listeners, 1 excluded" in printed


def _hear_and_answer(participant, submit, answer_of):
    """Play every clip of every non-practice page to its end through the services, then answer."""
    for page in participant.pages.filter(is_practice=False).order_by("position"):
        clips = list(page.clips.select_related("condition").order_by("slot"))
        for clip in clips:
            services.page_clip_record_play(participant=participant, public_id=clip.public_id, event="play")
        # The clips are 1 s long: start their clocks in the past instead of waiting.
        PageClip.objects.filter(page=page).update(first_played_at=timezone.now() - timedelta(seconds=5))
        for clip in clips:
            services.page_clip_record_play(participant=participant, public_id=clip.public_id, event="ended")
        submit(participant=participant, public_id=page.public_id, **answer_of(clips))


@pytest.mark.parametrize("test_type", ["mushra", "pairwise"])
def test_answers_given_through_the_services_reach_the_analysis(test_type, client):
    options = MUSHRA_OPTIONS if test_type == "mushra" else PAIRWISE_OPTIONS | {"pairs_per_volunteer": 10}
    study = OpenStudyFactory(
        slug=f"{test_type}-services", test_type=test_type, design_options=options, headphone_check=False,
        volume_check=False, practice=False,
    )  # fmt: skip
    people = [ParticipantFactory(study=study, prolific_pid=f"PID{k:02d}") for k in range(4)]
    for person in people:
        if test_type == "mushra":
            _hear_and_answer(
                person,
                services.mushra_submit,
                lambda clips: {
                    "scores": {c.label: {"quality": MUSHRA_PLANTED[c.condition.name]} for c in clips}
                },
            )
        else:  # the condition created first always wins
            _hear_and_answer(
                person,
                services.pairwise_submit,
                lambda clips: {"choices": {"preference": min(clips, key=lambda c: c.condition_id).label}},
            )
    client.force_login(UserFactory(username="admin", is_staff=True))
    archive = _zip(client, study)
    if test_type == "mushra":
        summary = pd.read_csv(archive.open("summary.csv"))
        screened = summary[summary["variant"] == "screened"].set_index("condition")
        assert screened["mean"].to_dict() == pytest.approx(MUSHRA_PLANTED)
        assert (screened["listeners"] == 4).all() and (screened["scores"] == 4 * 3).all()
    else:
        pairs = pd.read_csv(archive.open("pairs.csv"))
        screened = pairs[pairs["variant"] == "screened"]
        assert screened["n"].sum() == 4 * 10 and (screened["wins"] == screened["n"]).all()
        position = pd.read_csv(archive.open("position_bias.csv"))
        assert position.iloc[0]["choices"] == 40


@pytest.mark.parametrize("test_type", ["mushra", "pairwise"])
def test_a_study_without_answers_shows_empty_results_and_exports(test_type, client):
    options = MUSHRA_OPTIONS if test_type == "mushra" else PAIRWISE_OPTIONS
    study = StudyFactory(slug=f"{test_type}-empty", test_type=test_type, design_options=options)
    volunteer(study, 0, status=Participant.Status.SCREENING)
    client.force_login(study.owner)
    data = client.get(reverse("analysis:summary", kwargs={"slug": study.slug})).json()
    assert (data["design"], data["listeners"], data["rows"]) == (test_type, 0, [])
    assert {"stage": "- still in progress, no answer yet", "listeners": 1, "detail": ""} in data["flow"]
    page = client.get(reverse("researcher:study-detail", kwargs={"slug": study.slug})).content.decode()
    assert "No answers yet." in page
    client.force_login(UserFactory(username="admin", is_staff=True))
    assert "report.html" in _zip(client, study).namelist()
