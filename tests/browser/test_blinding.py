"""Blinding: nothing a volunteer's browser receives names a condition, model, stimulus or row.

Chromium completes a whole session (consent, volume and headphone checks, practice, 15 ratings,
completion) while every response is recorded: URL, headers, body, audio bytes. The study is set
up so that leaks would be recognisable: conditions and sets carry real model names, items are
distinctive, and every table's ids start at a distinctive number per table. Its clips come through
`import_stimuli` from originals in a different format per condition (WAV, MP3, OGG, FLAC, at
several rates, lengths and noise levels), as a researcher's folder might hold them; every clip must
still arrive in one format, and every clip of one item as the same number of bytes in every
condition (a volunteer sees Content-Length before a clip plays). The session runs with DEBUG on and
with DEBUG off, and no page may break the Content-Security-Policy. A MUSHRA and a pairwise session
are recorded the same way.
"""

import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from django.db import connection

from generation.importing import import_stimuli
from generation.models import ModelVariant, Stimulus, StimulusSet
from studies import services
from studies.models import (
    Condition,
    MushraScore,
    Page,
    PageClip,
    PairwiseChoice,
    Participant,
    Rating,
    Study,
    Trial,
)
from studies.volunteer.audio import clean_audio
from tests.browser.page_session import complete_mushra, complete_pairwise
from tests.browser.volunteer_session import complete_session
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MODELS = ["proposed", "bilstm", "ec2vae", "vded", "real-music"]
ITEMS = ["heldout-bwv0253", "heldout-bwv0347", "heldout-bwv0410"]
# The original format of each condition's files: (suffix, libsndfile format, sample rate, channels).
ORIGINALS = {
    "proposed": (".mp3", "MP3", 22050, 2),
    "bilstm": (".ogg", "OGG", 32000, 1),
    "ec2vae": (".flac", "FLAC", 96000, 2),
    "vded": (".mp3", "MP3", 44100, 1),
    "real-music": (".wav", "WAV", 48000, 1),
}


def import_conditions(folder: Path) -> list[StimulusSet]:
    """Tones of about 0.6 s, one file per item, each condition in its own format, length and noise
    level (so that variable-bitrate sizes would differ), through import_stimuli."""
    rng = np.random.default_rng(5)
    for c, (model, (suffix, fmt, rate, channels)) in enumerate(ORIGINALS.items()):
        (folder / model).mkdir(parents=True)
        for k, item in enumerate(ITEMS):
            t = np.arange(int((0.6 + 0.02 * c) * rate)) / rate
            tone = 0.2 * np.sin(2 * np.pi * (330 + 110 * k) * t) + rng.normal(0, 0.01 * c, t.shape)
            mono = tone.astype(np.float32)
            sf.write(
                str(folder / model / f"{item}{suffix}"),
                np.repeat(mono[:, None], channels, 1),
                rate,
                format=fmt,
            )
    return import_stimuli(folder, prefix="")


def named_sets(tmp_path: Path) -> dict[str, StimulusSet]:
    """The imported sets by model name, each renamed and given a model variant with a real model's
    name, so that a leak of either would be recognisable."""
    sets = {s.name: s for s in import_conditions(tmp_path / "audio")}
    for name in MODELS:
        variant, _ = ModelVariant.objects.get_or_create(
            key=name, defaults={"name": f"{name.upper()} network"}
        )
        StimulusSet.objects.filter(pk=sets[name].pk).update(name=f"{name}-chorales-v2", variant=variant)
    return sets


def start_ids_at(model, first: int) -> None:
    """Make the next autoincrement id of `model` `first`, so a leaked id cannot hide among 1, 2, 3."""
    table = model._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("UPDATE sqlite_sequence SET seq = %s WHERE name = %s", [first - 1, table])
            if cursor.rowcount == 0:
                cursor.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (%s, %s)", [table, first - 1])
        else:
            cursor.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), %s)", [table, first - 1])


def forbidden_texts(study: Study, participant: Participant) -> dict[str, str]:
    """Everything that must never reach the browser, with what it is."""
    texts = {}
    for condition in Condition.objects.filter(study=study).select_related("stimulus_set__variant"):
        stimulus_set = condition.stimulus_set
        texts[condition.name] = "condition name"
        texts[stimulus_set.name] = "stimulus set name"
        texts[stimulus_set.variant.key] = "model variant key"
        texts[stimulus_set.variant.name] = "model variant name"
        texts[str(condition.pk)] = "condition id"
        texts[str(stimulus_set.pk)] = "stimulus set id"
        for stimulus in stimulus_set.stimuli.all():
            name = Path(stimulus.audio.name)
            texts[name.name] = "stimulus file name"
            texts[name.stem] = "stimulus file stem"
            texts[stimulus.item_key] = "item key"
            texts[stimulus.audio_sha256] = "audio sha256"
            texts[str(stimulus.pk)] = "stimulus id"
            texts[stimulus.provenance["imported_file"]] = "original file"
            texts[stimulus.provenance["original_sha256"]] = "original sha256"
    for trial in Trial.objects.filter(participant=participant):
        texts[str(trial.pk)] = "trial id"
    for rating in Rating.objects.filter(trial__participant=participant):
        texts[str(rating.pk)] = "rating id"
    for page in Page.objects.filter(participant=participant):
        texts[str(page.pk)] = "page id"
    for clip in PageClip.objects.filter(page__participant=participant):
        texts[str(clip.pk)] = "page clip id"
    for score in MushraScore.objects.filter(page_clip__page__participant=participant):
        texts[str(score.pk)] = "MUSHRA score id"
    for choice in PairwiseChoice.objects.filter(page__participant=participant):
        texts[str(choice.pk)] = "pairwise choice id"
    texts[str(participant.pk)] = "participant id"
    texts[participant.token] = "participant token"
    return texts


def find_leaks(received: list, forbidden: dict[str, str]) -> list[str]:
    """Each forbidden text found in a received URL, header or body, with what it is."""
    leaks = []
    for url, headers, body in received:
        header_text = " ".join(f"{k}: {v}" for k, v in headers.items())
        for text, what in forbidden.items():
            needle = text.encode()
            if text.isdigit():
                # Ids are numbers: look for them as whole numbers, in text and in bytes alike.
                pattern = re.compile(rb"(?<![0-9])" + needle + rb"(?![0-9])")
                found = (
                    pattern.search(url.encode())
                    or pattern.search(header_text.encode())
                    or pattern.search(body)
                )
            else:
                found = (
                    text.lower() in url.lower()
                    or text.lower() in header_text.lower()
                    or needle.lower() in body.lower()
                )
            if found:
                leaks.append(f"{what} {text!r} in {url}")
    return leaks


COLLECT_CSP_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " " + e.sourceFile);
});
"""


@pytest.mark.parametrize("debug", [True, False], ids=["debug-on", "debug-off"])
def test_nothing_the_browser_receives_reveals_the_design(
    live_server, browser_context, tmp_path, settings, debug
):
    settings.DEBUG = debug
    for offset, model in enumerate([StimulusSet, Stimulus, Condition, Participant, Trial, Rating, Study]):
        start_ids_at(model, 7_301_000 + offset * 10_000)
    sets = named_sets(tmp_path)
    study = services.study_create(
        slug="blind",
        title="Film music study",
        owner=UserFactory(researcher=True),
        conditions=[(name, sets[name], "reference" if name == "real-music" else "system") for name in MODELS],
        consent_text="I agree to take part.",
        translations={"zh-hans": {"consent_text": "我同意参加本研究。"}},
        seed=1234,
    )
    services.study_open(study=study)

    received = []  # (url, headers, body) of every response
    context = browser_context(locale="en-US")
    page = context.new_page()
    page.add_init_script(COLLECT_CSP_VIOLATIONS)
    violations = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )

    def record(response):
        try:
            body = response.body()
        except Exception:  # redirects and aborted media requests have no body
            body = b""
        received.append((response.url, response.all_headers(), body))

    page.on("response", record)
    record_ = complete_session(
        page, f"{live_server.url}/s/{study.slug}/", seed=3, volume=True, headphones=True
    )
    page.wait_for_timeout(300)

    participant = Participant.objects.get(study=study)
    assert participant.status == Participant.Status.COMPLETED and participant.headphone_passed is True
    assert participant.headphone_correct == 6 and len(record_.ratings) == 15
    assert min(Stimulus.objects.values_list("pk", flat=True)) > 7_000_000

    # The clips the browser fetched, and their bytes exactly as served (fetched again in the same session).
    clip_urls = {url for url, _, _ in received if "/clip/" in url}
    assert len(clip_urls) == 16
    for url in clip_urls:
        full = page.request.get(url)
        assert full.status == 200
        received.append((url, full.headers, full.body()))
        assert full.headers["cache-control"] == "private, no-store"
        assert full.headers["accept-ranges"] == "bytes"
        assert "filename" not in full.headers.get("content-disposition", "")
    media = [r for r in received if "/clip/" in r[0] and r[2]]
    assert media and all(body[:3] != b"ID3" for _, _, body in media)
    # One format for every condition: the same type and MPEG frame header (rate, channel mode).
    assert {headers["content-type"] for _, headers, _ in media} == {"audio/mpeg"}
    assert len({body[:4] for _, headers, body in media if "content-range" not in headers}) == 1
    # Every clip of one item is served as the same number of bytes in every condition: the clips
    # this session fetched (Content-Length as the browser saw it) and every stored clip of the study.
    by_url = {
        url: int(headers["content-length"]) for url, headers, _ in media if "content-range" not in headers
    }
    served_sizes: dict[str, set[int]] = {}
    for trial in Trial.objects.filter(participant=participant).select_related("stimulus"):
        url = next(u for u in by_url if trial.public_id in u)
        served_sizes.setdefault(trial.stimulus.item_key, set()).add(by_url[url])
    assert all(len(sizes) == 1 for sizes in served_sizes.values()), served_sizes
    stored_sizes: dict[str, set[int]] = {}
    for stimulus in Stimulus.objects.filter(stimulus_set__conditions__study=study):
        stored_sizes.setdefault(stimulus.item_key, set()).add(clean_audio(Path(stimulus.audio.path)).size)
    assert sorted(stored_sizes) == ITEMS and all(len(sizes) == 1 for sizes in stored_sizes.values()), (
        stored_sizes
    )
    assert {item: sizes.pop() for item, sizes in served_sizes.items()} == {
        item: sizes.pop() for item, sizes in stored_sizes.items()
    }
    # No page broke the Content-Security-Policy, and every page carried it.
    assert violations == [] and page.evaluate("window.__csp") == []
    pages = [
        headers for url, headers, _ in received if headers.get("content-type", "").startswith("text/html")
    ]
    assert pages and all("script-src 'self'" in h.get("content-security-policy", "") for h in pages)

    forbidden = forbidden_texts(study, participant)
    assert len(forbidden) > 100
    leaks = find_leaks(received, forbidden)
    assert not leaks, "\n".join(leaks[:20])
    # The pages were really recorded: HTML, the script, JSON answers, WAV and MP3 bytes.
    types = {headers.get("content-type", "").split(";")[0] for _, headers, _ in received}
    assert {"text/html", "application/json", "audio/mpeg", "audio/wav"} <= types
    assert any(url.endswith("volunteer.js") for url, _, _ in received)


@pytest.mark.parametrize("test_type", ["mushra", "pairwise"])
def test_a_mushra_or_pairwise_session_reveals_nothing_either(
    live_server, browser_context, tmp_path, test_type
):
    """The same recorder over a MUSHRA or a pairwise session (practice page included; the
    screening pages are the rating session's, recorded above): every page and clip URL is opaque,
    and every clip of one item is served as the same bytes count whatever its condition or slot."""
    models = [
        StimulusSet,
        Stimulus,
        Condition,
        Participant,
        Page,
        PageClip,
        MushraScore,
        PairwiseChoice,
        Study,
    ]
    for offset, model in enumerate(models):
        start_ids_at(model, 6_101_000 + offset * 10_000)
    sets = named_sets(tmp_path)
    study = services.study_create(
        slug=f"blind-{test_type}",
        title="Film music study",
        owner=UserFactory(researcher=True),
        conditions=[(name, sets[name], "reference" if name == "real-music" else "system") for name in MODELS],
        test_type=test_type,
        design_options={"items_per_volunteer": 2} if test_type == "mushra" else {"pairs_per_volunteer": 4},
        headphone_check=False,
        volume_check=False,
        seed=99,
    )
    services.study_open(study=study)
    page = browser_context(locale="en-US").new_page()
    page.add_init_script(COLLECT_CSP_VIOLATIONS)
    received = []

    def record(response):
        try:
            body = response.body()
        except Exception:  # redirects and aborted media requests have no body
            body = b""
        received.append((response.url, response.all_headers(), body))

    page.on("response", record)
    url = f"{live_server.url}/s/{study.slug}/"
    if test_type == "mushra":
        complete_mushra(page, url, seed=5, practice=True, switch=False)
    else:
        complete_pairwise(page, url, seed=5, practice=True)
    page.wait_for_timeout(300)
    participant = Participant.objects.get(study=study)
    assert participant.status == Participant.Status.COMPLETED

    clips = list(PageClip.objects.filter(page__participant=participant).select_related("stimulus"))
    assert len(clips) == (3 * 5 if test_type == "mushra" else 5 * 2)
    sizes: dict[str, set[int]] = {}
    for clip in clips:
        full = page.request.get(f"{url}clip/{clip.public_id}/")
        assert full.status == 200 and full.headers["content-type"] == "audio/mpeg"
        assert full.headers["cache-control"] == "private, no-store" and full.body()[:3] != b"ID3"
        received.append((full.url, full.headers, full.body()))
        sizes.setdefault(clip.stimulus.item_key, set()).add(int(full.headers["content-length"]))
    assert all(len(n) == 1 for n in sizes.values()), sizes
    assert page.evaluate("window.__csp") == []

    forbidden = forbidden_texts(study, participant)
    assert len(forbidden) > 100 and "page clip id" in forbidden.values()
    leaks = find_leaks(received, forbidden)
    assert not leaks, "\n".join(leaks[:20])
    types = {headers.get("content-type", "").split(";")[0] for _, headers, _ in received}
    assert {"text/html", "application/json", "audio/mpeg"} <= types
