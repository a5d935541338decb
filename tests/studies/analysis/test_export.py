"""From the database to the zip: data frame, export command, downloads (staff only), live summary."""

import io
import json
import zipfile

import pandas as pd
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone

from studies.analysis.data import ratings_frame
from studies.models import Participant, Rating, Study
from tests.factories import UserFactory
from tests.generation.factories import StimulusSetFactory
from tests.studies.factories import OpenStudyFactory, ParticipantFactory

pytestmark = pytest.mark.django_db

# cond0-2 are systems, cond3 real music, cond4 the low anchor (factories.StudyFactory)
PLANTED = {"cond0": 5, "cond1": 3, "cond2": 3, "cond3": 5, "cond4": 1}


def rate_planted(study) -> list[Participant]:
    """6 volunteers join `study` (open, conditions cond0-4 as in PLANTED) and rate every clip;
    the last one is a flat responder."""
    participants = [ParticipantFactory(study=study, prolific_pid=f"PROLIFIC{k}") for k in range(6)]
    now = timezone.now()
    for k, participant in enumerate(participants):
        participant.headphone_passed = True
        participant.status = Participant.Status.COMPLETED
        participant.save()
        for trial in participant.trials.select_related("condition", "stimulus"):
            trial.first_played_at = now
            trial.ended_at = now
            trial.plays = 1
            trial.save()
            base = 3 if k == 5 else PLANTED[trial.condition.name]
            wobble = 0 if k == 5 else (trial.position + k) % 2 * (-1 if base == 5 else 1)
            Rating.objects.create(
                trial=trial,
                naturalness=base + wobble,
                creativity=base,
                musicality=max(1, base - (trial.group % 2)) if k != 5 else 3,
                listen_time_s=12.5,
                plays=1,
            )
    return participants


@pytest.fixture
def rated_study():
    """An open study, 6 volunteers who rated every clip; the last one a flat responder."""
    study = OpenStudyFactory(slug="demo-analysis", conditions=5, items=3)
    return study, rate_planted(study)


def test_ratings_frame_is_long_pseudonymous_and_skips_practice(rated_study):
    study, participants = rated_study
    frame = ratings_frame(study)
    rated = Rating.objects.filter(trial__participant__study=study, trial__is_practice=False).count()
    assert Rating.objects.filter(trial__is_practice=True).count() > 0  # the study has practice clips
    assert len(frame) == 3 * rated == 3 * 6 * 15
    assert set(frame["participant"]) == {f"P{p.pk:04d}" for p in participants}
    assert frame["fully_played"].all() and frame["headphone_passed"].all()
    assert set(frame["role"]) == {"system", "reference", "low_anchor"}
    first = participants[0].trials.filter(is_practice=False).select_related("rating").first()
    row = frame[
        (frame["participant"] == f"P{participants[0].pk:04d}")
        & (frame["group"] == first.group)
        & (frame["position"] == first.position)
        & (frame["scale"] == "creativity")
    ]
    assert row["rating"].tolist() == [first.rating.creativity]
    assert row["stimulus_sha256"].tolist() == [first.stimulus.audio_sha256]


def _zip_of(response) -> zipfile.ZipFile:
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    return zipfile.ZipFile(
        io.BytesIO(b"".join(response.streaming_content) if response.streaming else response.content)
    )


def test_staff_download_holds_everything_and_no_identifiers(rated_study, client):
    study, participants = rated_study
    client.force_login(UserFactory(username="admin", is_staff=True))
    archive = _zip_of(client.get(f"/researcher/studies/{study.slug}/export.zip"))
    names = set(archive.namelist())
    sheets = {
        "ratings",
        "flow",
        "flow_by_condition",
        "summary",
        "headline",
        "paper_comparison",
        "tests",
        "exclusions",
        "screening_criteria",
        "reliability",
        "precision",
    }
    expected = {f"{name}.csv" for name in sheets} | {
        "analysis.xlsx",
        "figures/flow.png",
        "figures/flow.svg",
        "report.html",
        "config.json",
        "figures/mos_screened.png",
        "figures/mos_screened.svg",
        "figures/listener_ratings.png",
        "figures/listener_ratings.svg",
        "figures/mos_all.png",
        "figures/mos_all.svg",
    }
    assert expected <= names
    everything = b"".join(archive.read(n) for n in names if not n.endswith((".png", ".xlsx")))
    for p in participants:
        assert p.token.encode() not in everything and p.prolific_pid.encode() not in everything
    exclusions = pd.read_csv(archive.open("exclusions.csv"))
    flat = f"P{participants[5].pk:04d}"
    assert exclusions.loc[exclusions["excluded"], "participant"].tolist() == [flat]
    assert "flat_responder" in exclusions.set_index("participant").loc[flat, "reasons"]
    summary = pd.read_csv(archive.open("summary.csv"))
    screened = summary[(summary["variant"] == "screened") & (summary["scale"] == "creativity")]
    assert screened.set_index("condition")["mos"].to_dict() == pytest.approx(
        {c: float(v) for c, v in PLANTED.items()}
    )
    assert set(pd.read_excel(io.BytesIO(archive.read("analysis.xlsx")), sheet_name=None)) == sheets
    # The study's order (conditions as created: cond0-2 systems, cond3 real, cond4 anchor).
    assert screened["condition"].tolist() == ["cond0", "cond1", "cond2", "cond3", "cond4"]
    report = archive.read("report.html").decode()
    # Self-contained: every figure inline, nothing fetched from beside the file.
    assert report.count("<svg") == 4 and 'src="figures/' not in report and "<img" not in report
    assert flat in report and "straight-lined a scale" in report
    assert "4.35" in report and "26.45 %" in report and "&lt; 0.5" in report  # the paper's column
    assert "correction runs within each scale" in report and "complete cases: 5 of 5" in report


def test_participant_flow_counts_every_stage(rated_study, client):
    study, participants = rated_study
    left = ParticipantFactory(study=study, prolific_pid="LEFT")
    deaf = ParticipantFactory(study=study, prolific_pid="DEAF")
    Participant.objects.filter(pk=left.pk).update(status=Participant.Status.ABANDONED)
    Participant.objects.filter(pk=deaf.pk).update(
        status=Participant.Status.SCREENED_OUT, volume_checked=True, headphone_passed=False
    )
    client.force_login(UserFactory(username="admin", is_staff=True))
    archive = _zip_of(client.get(f"/researcher/studies/{study.slug}/export.zip"))
    flow = pd.read_csv(archive.open("flow.csv")).set_index("stage")["listeners"].to_dict()
    assert flow == {
        "joined (consented)": 8,
        "- left before the volume check": 1,
        "- screened out at the headphone check": 1,
        "- abandoned before rating a clip": 0,
        "- still in progress, no rating yet": 0,
        "rated at least one clip": 6,
        "- excluded by screening": 1,
        "analysed": 5,
    }
    per_condition = pd.read_csv(archive.open("flow_by_condition.csv"))
    assert per_condition["analysed"].tolist() == [5] * 5
    assert (per_condition["ratings_analysed"] == 5 * 3 * 3).all()  # 3 clips each, 3 scales
    assert "Participant flow" in archive.read("report.html").decode()


@pytest.mark.parametrize("who", ["anonymous", "volunteer-like", "researcher-owner"])
def test_non_staff_get_403(rated_study, client, who):
    study, _ = rated_study
    if who == "volunteer-like":
        client.force_login(UserFactory(username="plain"))
    elif who == "researcher-owner":
        client.force_login(study.owner)
    assert client.get(f"/researcher/studies/{study.slug}/export.zip").status_code == 403
    assert client.get(f"/api/studies/{study.slug}/analysis/export.zip").status_code == 403


def test_api_download_and_unknown_study(rated_study, client):
    study, _ = rated_study
    client.force_login(UserFactory(username="admin", is_staff=True))
    archive = _zip_of(client.get(reverse("analysis-api:export", kwargs={"slug": study.slug})))
    assert "report.html" in archive.namelist()
    assert client.get("/api/studies/nope/analysis/export.zip").status_code == 404


def test_live_summary_json_and_study_page(rated_study, client):
    study, _ = rated_study
    client.force_login(study.owner)
    data = client.get(reverse("analysis:summary", kwargs={"slug": study.slug})).json()
    assert (data["listeners"], data["excluded"]) == (6, 1)
    cells = {(r["scale"], r["condition"]): r for r in data["rows"]}
    assert cells[("creativity", "cond4")]["mos"] == 1.0 and cells[("creativity", "cond4")]["listeners"] == 5
    api = client.get(f"/api/studies/{study.slug}/analysis/summary/").json()
    assert api["rows"] == data["rows"]
    page = client.get(reverse("researcher:study-detail", kwargs={"slug": study.slug})).content.decode()
    assert 'id="live-summary-table"' in page and "<svg" in page
    assert "export.zip" not in page  # the download link is for staff only
    # The fragment the page swaps in when new ratings arrive: the same table and chart.
    fragment = client.get(reverse("analysis:summary-fragment", kwargs={"slug": study.slug}))
    assert fragment.status_code == 200 and fragment["Cache-Control"] == "no-store"
    html = fragment.content.decode()
    assert html.lstrip().startswith('<div id="live-summary"') and "<svg" in html
    assert html.count("<tr>") == 1 + len(data["rows"]) and "export.zip" not in html
    assert 'id="live-flow"' in html and "rated at least one clip: 6" in html and "analysed: 5" in html
    assert [s["listeners"] for s in data["flow"]][0] == 6  # joined: the 6 volunteers
    other = UserFactory(username="other-researcher", researcher=True)
    client.force_login(other)
    assert client.get(reverse("analysis:summary", kwargs={"slug": study.slug})).status_code == 404
    assert client.get(reverse("analysis:summary-fragment", kwargs={"slug": study.slug})).status_code == 404
    assert client.get(f"/api/studies/{study.slug}/analysis/summary/").status_code == 404
    client.force_login(UserFactory(username="not-a-researcher"))
    assert client.get(f"/api/studies/{study.slug}/analysis/summary/").status_code == 403
    client.logout()
    assert client.get(reverse("analysis:summary-fragment", kwargs={"slug": study.slug})).status_code == 403


def test_study_page_before_any_rating(client):
    study = OpenStudyFactory(slug="empty-study", conditions=5, items=3)
    client.force_login(UserFactory(username="admin2", is_staff=True))
    page = client.get(reverse("researcher:study-detail", kwargs={"slug": study.slug})).content.decode()
    assert 'id="live-summary-empty"' in page and "export.zip" in page


def test_export_command_writes_the_zip(rated_study, tmp_path):
    study, _ = rated_study
    out = tmp_path / "report.zip"
    call_command("export_analysis", study=study.slug, out=str(out), min_rating_variance=0.0)
    archive = zipfile.ZipFile(out)
    exclusions = pd.read_csv(archive.open("exclusions.csv"))
    assert not exclusions["excluded"].any()  # the override let the flat responder in
    assert '"min_rating_variance": 0.0' in archive.read("config.json").decode()
    with pytest.raises(CommandError, match="No study"):
        call_command("export_analysis", study="missing", out=str(out))


def test_a_per_study_threshold_changes_the_exclusions(client, tmp_path):
    """A threshold set with create_study is the study's own: the export and the live summary
    apply it (here: flat responders are let in); an export_analysis override still wins."""
    UserFactory(username="rita", researcher=True)
    roles = ["system"] * 3 + ["reference", "low_anchor"]
    for k in range(5):
        StimulusSetFactory(name=f"set{k}", items=3)
    call_command(
        "create_study",
        "--slug=lenient",
        "--title=Lenient screening",
        "--owner=rita",
        *[f"--condition=cond{k}=set{k}:{role}" for k, role in enumerate(roles)],
        "--analysis-option=min_rating_variance=0",
        "--open",
    )
    study = Study.objects.get(slug="lenient")
    participants = rate_planted(study)
    flat = f"P{participants[5].pk:04d}"

    client.force_login(UserFactory(username="admin", is_staff=True))
    archive = _zip_of(client.get(f"/researcher/studies/{study.slug}/export.zip"))
    exclusions = pd.read_csv(archive.open("exclusions.csv")).set_index("participant")
    assert not exclusions["excluded"].any() and exclusions.loc[flat, "rating_variance"] == 0
    assert json.loads(archive.read("config.json"))["min_rating_variance"] == 0.0
    live = client.get(reverse("analysis:summary", kwargs={"slug": study.slug})).json()
    assert (live["listeners"], live["excluded"]) == (6, 0)

    out = tmp_path / "strict.zip"
    call_command("export_analysis", study=study.slug, out=str(out), min_rating_variance=0.1)
    with zipfile.ZipFile(out) as archive:
        strict = pd.read_csv(archive.open("exclusions.csv"))
    assert strict.loc[strict["excluded"], "participant"].tolist() == [flat]


def test_export_command_demo_on_a_synthetic_panel(tmp_path):
    out = tmp_path / "demo.zip"
    call_command("export_analysis", synthetic=12, out=str(out), bootstrap_resamples=200)
    archive = zipfile.ZipFile(out)
    exclusions = pd.read_csv(archive.open("exclusions.csv"))
    assert exclusions.loc[exclusions["excluded"], "participant"].tolist() == ["p00002", "p00005"]
    headline = pd.read_csv(archive.open("headline.csv"))
    best = headline[(headline["variant"] == "screened") & (headline["kind"] == "advantage_over_second_best")]
    assert set(best["condition"]) == {"proposed"}
