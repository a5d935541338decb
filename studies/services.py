"""Writes of the studies app: launching studies, joining volunteers, recording plays and ratings.

Every service is keyword-only, runs in one transaction and raises a StudyError (a Django
ValidationError whose message can be shown to the user as it is) when the user asked for
something the study does not allow; in that case nothing is changed.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from generation.audio import AudioError, mp3_format
from generation.models import Stimulus, StimulusSet
from studies import design
from studies.analysis.config import AnalysisConfig
from studies.models import (
    RATING_MAX,
    RATING_MIN,
    SCALES,
    Condition,
    Exposure,
    Participant,
    Rating,
    Study,
    Trial,
    new_completion_code,
)

# The server hears of "play" a network trip after the audio started; allow that much slack
# before calling a submission early.
LISTEN_TOLERANCE_S = 0.5
# A runaway client must not grow a trial's event log without bound.
MAX_PLAY_EVENTS = 200
# A seat counts toward the target while its volunteer has passed screening (or the study has none),
# or is still screening and was seen this recently: a consent that goes no further stops holding a
# seat after these minutes, so fake or abandoned joins cannot turn real volunteers away.
SCREENING_SEAT_MINUTES = 10
# Prolific's ids are 24 hexadecimal characters; other recruiters use letters, digits, - and _.
PROLIFIC_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


class StudyError(ValidationError):
    """Something the study does not allow; the message is meant for the person who asked.

    `http_status` is what the API answers for it (docbgm_site/api_errors.py): 400, an invalid
    request, unless a subclass says the state forbids it (409) or the trial is not the asker's (403).
    """

    http_status = 400


class StudyNotReady(StudyError):
    """The study cannot be opened as configured."""


class StudyNotOpen(StudyError):
    """The study is a draft or closed."""

    http_status = 409


class StudyFull(StudyError):
    """The study already has its target number of participants."""

    http_status = 409


class ConsentOutdated(StudyError):
    """The volunteer consented to another version of the consent text."""

    http_status = 409


class ParticipantInactive(StudyError):
    """The session has ended (completed, screened out or expired)."""

    http_status = 409


class TrialNotFound(StudyError):
    """No such trial in this volunteer's session (including another volunteer's trial)."""

    http_status = 403


class RatingInvalid(StudyError):
    """A scale is missing or outside 1-5."""


class ParticipantElsewhere(StudyError):
    """The Prolific ID already joined this study; its session stays in the browser that holds it."""


class ListenIncomplete(StudyError):
    """The rating came before the clip could have been heard to the end."""

    http_status = 409


# --- Studies -------------------------------------------------------------------------------


@transaction.atomic
def study_create(
    *,
    slug: str,
    title: str,
    owner,
    conditions: list[tuple[str, StimulusSet, str]],
    groups: int = 3,
    clips_per_group: int = 5,
    description: str = "",
    consent_text: str = "",
    consent_version: str = "1",
    instructions: str = "",
    scale_definitions: dict[str, str] | None = None,
    target_participants: int = 30,
    completion_code: str = "",
    redirect_url: str = "",
    languages: list[str] | None = None,
    headphone_check: bool = True,
    volume_check: bool = True,
    practice: bool = True,
    seat_timeout_minutes: int = 60,
    seed: int | None = None,
    analysis_options: dict[str, Any] | None = None,
) -> Study:
    """Create a draft study with its conditions.

    Args:
        conditions: (internal name, stimulus set version, role) per condition; role is one of
            "system", "reference", "low_anchor".
        completion_code: shown to volunteers at the end; a random one when blank.
        seed: replays every assignment; random when None.
        analysis_options: the study's own analysis settings (screening thresholds and the like),
            any subset of `AnalysisConfig`'s fields; None or {} keeps the defaults.

    Raises:
        StudyError: invalid fields (the message says which), unknown or out-of-range analysis
            options, or duplicate condition names.
    """
    study = Study(
        slug=slug,
        title=title,
        owner=owner,
        groups=groups,
        clips_per_group=clips_per_group,
        description=description,
        consent_text=consent_text,
        consent_version=consent_version,
        instructions=instructions,
        target_participants=target_participants,
        completion_code=completion_code or new_completion_code(),
        redirect_url=redirect_url,
        headphone_check=headphone_check,
        volume_check=volume_check,
        practice=practice,
        seat_timeout_minutes=seat_timeout_minutes,
    )
    if scale_definitions is not None:
        study.scale_definitions = scale_definitions
    if languages is not None:
        study.languages = languages
    if seed is not None:
        study.seed = seed
    study.analysis_options = analysis_options_clean(analysis_options)
    _validate_study_fields(study)
    _full_clean(study)
    study.save()
    names = [name for name, _, _ in conditions]
    if len(set(names)) != len(names):
        raise StudyError("Two conditions have the same name.")
    for name, stimulus_set, role in conditions:
        condition = Condition(study=study, name=name, stimulus_set=stimulus_set, role=role)
        _full_clean(condition, exclude=["study"])
        condition.save()
    return study


def _validate_study_fields(study: Study) -> None:
    definitions = study.scale_definitions
    if not isinstance(definitions, dict) or set(definitions) != set(SCALES):
        raise StudyError(f"Scale definitions must define exactly: {', '.join(SCALES)}.")
    if not all(isinstance(v, str) and v.strip() for v in definitions.values()):
        raise StudyError("Every scale needs a one-line definition.")
    known = {code for code, _ in settings.LANGUAGES}
    if not study.languages or not set(study.languages) <= known:
        raise StudyError(f"Languages must be a non-empty subset of: {', '.join(sorted(known))}.")


def analysis_options_clean(options: Any) -> dict[str, Any]:
    """A study's analysis options, checked against AnalysisConfig (the forms use it too); None,
    an empty form field, means no options.

    Raises:
        StudyError: not an object, an unknown key, a wrong type or a value out of range; the
            message names each.
    """
    try:
        return AnalysisConfig.check_options({} if options is None else options)
    except ValueError as error:
        raise StudyError(str(error)) from error


def _full_clean(instance, exclude=None, **checks) -> None:
    try:
        instance.full_clean(exclude=exclude, **checks)
    except ValidationError as error:
        raise StudyError(error.message_dict if hasattr(error, "error_dict") else error.messages) from error


def study_items(*, study: Study) -> list[str]:
    """The musical items every condition's stimulus set renders (sorted)."""
    sets = [set(c.stimulus_set.stimuli.values_list("item_key", flat=True)) for c in study.conditions.all()]
    return sorted(set.intersection(*sets)) if sets else []


CLIP_DIFFERENCES_SHOWN = 5  # in study_open's refusal; the rest are counted


def _clip_file_description(stimulus) -> dict[str, str]:
    """What a volunteer's browser can see of a clip's file without hearing it."""
    from studies.volunteer.audio import clean_audio

    try:
        served = clean_audio(Path(stimulus.audio.path))
        encoding = mp3_format(stimulus.audio.path)
    except (OSError, ValueError, AudioError) as error:
        return {"file": f"unreadable ({error})"}
    bitrate = f"{encoding.bitrate_kbps} kbps" if encoding.bitrate_kbps else "variable bitrate"
    return {
        "served bytes": str(served.size),
        "duration": f"{stimulus.duration_s:.3f} s",
        "type": served.content_type,
        "encoding": f"{encoding.sample_rate} Hz {encoding.channel_mode} {bitrate} {encoding.encoder}".strip(),
    }


def clip_differences(*, conditions: list[Condition]) -> list[str]:
    """Every way the clips of one item differ between conditions in what their files show.

    A volunteer's browser sees a clip's Content-Length before it plays, and can read its encoding
    and duration; so every clip of one item must have the same served byte size, duration, sample
    rate and encoder settings in every condition (constant-bitrate MP3s of one length do).

    Returns:
        "item: what differs (condition value, ...)" lines, sorted by item; empty when all agree.
    """
    described: dict[str, dict[str, dict[str, str]]] = {}
    for condition in conditions:
        for stimulus in condition.stimulus_set.stimuli.all():
            described.setdefault(stimulus.item_key, {})[condition.name] = _clip_file_description(stimulus)
    differences = []
    for item, by_condition in sorted(described.items()):
        for what in dict.fromkeys(k for description in by_condition.values() for k in description):
            values = {name: description.get(what, "-") for name, description in by_condition.items()}
            if len(set(values.values())) > 1:
                listed = ", ".join(f"{name} {value}" for name, value in values.items())
                differences.append(f"{item}: {what} differs ({listed})")
    return differences


@transaction.atomic
def study_open(*, study: Study) -> Study:
    """Open a draft (or reopen a closed) study to volunteers.

    Raises:
        StudyNotReady: no conditions, a stimulus set not ready, sets rendering different items,
            too few items for the design, or clips of an item whose files differ between
            conditions (`clip_differences`). The message says which.
    """
    study = Study.objects.select_for_update().get(pk=study.pk)
    conditions = list(study.conditions.select_related("stimulus_set"))
    if not conditions:
        raise StudyNotReady("The study has no conditions.")
    not_ready = [c.name for c in conditions if c.stimulus_set.status != StimulusSet.Status.READY]
    if not_ready:
        raise StudyNotReady(f"Stimulus sets not ready for: {', '.join(not_ready)}.")
    item_sets = {c.name: set(c.stimulus_set.stimuli.values_list("item_key", flat=True)) for c in conditions}
    first = next(iter(item_sets.values()))
    differing = [name for name, items in item_sets.items() if items != first]
    if differing:
        raise StudyNotReady(
            f"The conditions must render the same items; these differ from {conditions[0].name}: "
            f"{', '.join(differing)}."
        )
    try:
        design.check_design(
            n_conditions=len(conditions),
            n_items=len(first),
            groups=study.groups,
            clips_per_group=study.clips_per_group,
        )
    except design.DesignError as error:
        raise StudyNotReady(str(error)) from error
    differences = clip_differences(conditions=conditions)
    if differences:
        shown = differences[:CLIP_DIFFERENCES_SHOWN]
        more = len(differences) - len(shown)
        raise StudyNotReady(
            "The clips of an item must be files alike in every condition, or a volunteer's browser "
            "could tell the condition from the file alone (its size shows before it plays): "
            + "; ".join(shown)
            + (f"; and {more} more." if more else ".")
            + " Render or import the sets again with the same clip length."
        )
    study.status = Study.Status.OPEN
    study.opened_at = study.opened_at or timezone.now()
    study.closed_at = None
    study.save(update_fields=["status", "opened_at", "closed_at"])
    _exposure_rows(study, [c.pk for c in conditions], sorted(first))
    return study


@transaction.atomic
def study_close(*, study: Study) -> Study:
    """Close the study: no one joins, plays or rates any more. Idempotent."""
    study = Study.objects.select_for_update().get(pk=study.pk)
    if study.status != Study.Status.CLOSED:
        study.status = Study.Status.CLOSED
        study.closed_at = timezone.now()
        study.save(update_fields=["status", "closed_at"])
    return study


# --- Joining and the balanced assignment -----------------------------------------------------


def release_abandoned_seats(*, study: Study, now=None) -> int:
    """Mark sessions idle longer than the study's seat timeout as abandoned; return how many.

    Their unrated trials stop counting as exposure (see exposure_counts), so the next volunteer
    gets those clips. Call it inside the transaction that holds the study's row lock. The stale
    participants' rows are locked before their status changes, so a rating they are submitting
    right now either lands first (and keeps counting) or is refused as expired.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(minutes=study.seat_timeout_minutes)
    stale = list(
        Participant.objects.select_for_update()
        .filter(study=study, status__in=Participant.LIVE_STATUSES, last_seen_at__lt=cutoff)
        .values_list("pk", flat=True)
    )
    if stale:
        Participant.objects.filter(pk__in=stale).update(status=Participant.Status.ABANDONED)
        _exposure_release(study, stale)
    return len(stale)


def seats_taken(*, study: Study, now=None) -> int:
    """Participants that count toward `study.target_participants` (see SCREENING_SEAT_MINUTES).

    Completed sessions and those rating (screening passed, or none asked for) count; a session still
    in its volume or headphone check counts only while it was seen in the last
    SCREENING_SEAT_MINUTES; screened-out and abandoned sessions never do.
    """
    now = now or timezone.now()
    recent = now - timedelta(minutes=SCREENING_SEAT_MINUTES)
    return Participant.objects.filter(
        Q(status__in=[Participant.Status.COMPLETED, Participant.Status.RATING])
        | Q(
            status__in=[Participant.Status.CONSENTED, Participant.Status.SCREENING],
            last_seen_at__gte=recent,
        ),
        study=study,
    ).count()


def prolific_id_clean(value: str) -> str:
    """ "" or a recruiter's id of 1-64 letters, digits, - and _ (Prolific's are 24 hex characters).

    Raises:
        StudyError: any other value; the message says what an id looks like.
    """
    value = (value or "").strip()
    if value and not PROLIFIC_ID_RE.match(value):
        raise StudyError(
            "The study link is not valid: its Prolific ids must be 1 to 64 letters, digits, "
            "hyphens or underscores. Please open the link from Prolific again."
        )
    return value


def exposure_counts(*, study: Study) -> Counter:
    """(condition id, item) -> trials that were rated or may still be (practice excluded).

    A trial counts while its participant is live, and for ever once rated: an abandoned or
    screened-out seat's unrated trials are released.
    """
    trials = Trial.objects.filter(participant__study=study, is_practice=False).filter(
        Q(participant__status__in=Participant.LIVE_STATUSES + (Participant.Status.COMPLETED,))
        | Q(rating__isnull=False)
    )
    return Counter(
        (condition_id, item)
        for condition_id, item in trials.values_list("condition_id", "stimulus__item_key")
    )


def exposure_counts_stored(*, study: Study) -> Counter:
    """exposure_counts as the joins keep it (studies.models.Exposure): one row per pair, no recount."""
    return Counter(
        {
            (condition_id, item): n
            for condition_id, item, n in Exposure.objects.filter(condition__study=study).values_list(
                "condition_id", "item_key", "count"
            )
            if n
        }
    )


def _exposure_rows(study: Study, conditions: list[int], items: list[str]) -> dict[tuple[int, str], Exposure]:
    """The study's Exposure rows, locked in primary-key order; (re)built from a recount if any
    pair is missing (a study opened before the rows existed). Call it holding the study's lock.

    Every writer of these rows locks them in primary-key order, so joins and releases never deadlock.
    """
    rows = {
        (row.condition_id, row.item_key): row
        for row in Exposure.objects.select_for_update().filter(condition__study=study).order_by("pk")
    }
    wanted = {(c, i) for c in conditions for i in items}
    if wanted - set(rows):
        recount = exposure_counts(study=study)
        Exposure.objects.filter(condition__study=study).delete()
        built = Exposure.objects.bulk_create(
            [Exposure(condition_id=c, item_key=i, count=recount.get((c, i), 0)) for c, i in sorted(wanted)]
        )
        rows = {(row.condition_id, row.item_key): row for row in built}
    return rows


def _exposure_add(rows: dict[tuple[int, str], Exposure], pairs: Counter, sign: int) -> None:
    """Add (sign=1) or take off (sign=-1) `pairs` from locked rows: one UPDATE per distinct amount."""
    by_amount: dict[int, list[int]] = {}
    for pair, n in pairs.items():
        if n and pair in rows:
            by_amount.setdefault(n, []).append(rows[pair].pk)
    for n, pks in by_amount.items():
        Exposure.objects.filter(pk__in=pks).update(count=F("count") + sign * n)


def _exposure_release(study: Study, participant_ids: list[int]) -> None:
    """Seats that ended before rating everything give their unrated pairs back."""
    released = Counter(
        Trial.objects.filter(
            participant_id__in=participant_ids, is_practice=False, rating__isnull=True
        ).values_list("condition_id", "stimulus__item_key")
    )
    if released:
        rows = Exposure.objects.select_for_update().filter(condition__study=study).order_by("pk")
        _exposure_add({(r.condition_id, r.item_key): r for r in rows}, released, -1)


def _check_open(study: Study) -> None:
    if study.status != Study.Status.OPEN:
        raise StudyNotOpen(
            "This study is not open at the moment." if study.status == "draft" else "This study has closed."
        )


_ELSEWHERE = {
    Participant.Status.COMPLETED: "This Prolific ID has already completed this study. Thank you!",
    Participant.Status.SCREENED_OUT: "This Prolific ID has already taken this study's headphone check, "
    "which can be taken only once. Thank you for your time!",
    Participant.Status.ABANDONED: "This Prolific ID's session expired after a long pause. Thank you for your time!",
    None: "This Prolific ID has already started this study in another browser. Please continue in the "
    "browser where you started; if you cannot, contact the researcher through Prolific.",
}


def participant_join(
    *,
    study: Study,
    consent_version: str,
    questionnaire: dict | None = None,
    prolific_pid: str = "",
    study_id: str = "",
    session_id: str = "",
    language: str = "en",
) -> Participant:
    """A volunteer consents: create their session and its balanced G x M trials.

    Locking: the study row is locked (`select_for_update`) for the whole transaction, so joins
    of one study are serialised: each join reads the exposure counts every earlier join left
    (studies.models.Exposure, updated in the same transaction as the trials), which is what keeps
    the (condition, item) counts within one of each other when many volunteers arrive at once.
    The counts are kept, not recounted, so the thousandth join costs what the first did.
    On SQLite the IMMEDIATE transaction mode serialises writers.

    A session belongs to the browser that joined: resuming happens there, through its session
    cookie, and never reaches this service. A PROLIFIC_PID that already joined is therefore refused
    (ParticipantElsewhere), whatever became of its session, so another browser never receives it,
    and a screened-out volunteer cannot take the check again.

    Raises:
        StudyError: a Prolific ID, study or session id that is not a valid id.
        StudyNotOpen: the study is a draft or closed.
        ParticipantElsewhere: the Prolific ID already joined this study.
        ConsentOutdated: the consent text changed since the page was shown.
        StudyFull: the target number of seats (`seats_taken`) is reached.
    """
    if questionnaire is not None and not isinstance(questionnaire, dict):
        raise StudyError("The questionnaire must be a set of answers.")
    prolific_pid = prolific_id_clean(prolific_pid)
    study_id = prolific_id_clean(study_id)
    session_id = prolific_id_clean(session_id)
    with transaction.atomic():
        study = Study.objects.select_for_update().get(pk=study.pk)
        _check_open(study)
        if prolific_pid:
            existing = Participant.objects.filter(study=study, prolific_pid=prolific_pid).first()
            if existing is not None:
                raise ParticipantElsewhere(_ELSEWHERE.get(existing.status, _ELSEWHERE[None]))
        if consent_version != study.consent_version:
            raise ConsentOutdated("The consent text has changed; please read it again and consent.")
        now = timezone.now()
        release_abandoned_seats(study=study, now=now)
        if study.target_participants and seats_taken(study=study, now=now) >= study.target_participants:
            raise StudyFull("This study has all the participants it needs. Thank you for your interest!")

        conditions = list(study.conditions.values_list("pk", flat=True))
        stimuli = {
            (condition_id, item): stimulus_id
            for condition_id, item, stimulus_id in Stimulus.objects.filter(
                stimulus_set__conditions__study=study
            ).values_list("stimulus_set__conditions__id", "item_key", "pk")
        }
        items = sorted(
            set.intersection(*({i for c, i in stimuli if c == condition} for condition in conditions))
            if conditions
            else set()
        )
        ordinal = Participant.objects.filter(study=study).count()
        seed = design.participant_seed(study.seed, ordinal)
        exposure = _exposure_rows(study, conditions, items)
        try:
            assignment = design.assign(
                conditions=conditions,
                items=items,
                groups=study.groups,
                clips_per_group=study.clips_per_group,
                seed=seed,
                exposure={pair: row.count for pair, row in exposure.items()},
                practice=study.practice,
            )
        except design.DesignError as error:
            raise StudyNotReady(str(error)) from error

        screening = study.headphone_check or study.volume_check
        participant = Participant(
            study=study,
            prolific_pid=prolific_pid[:64],
            prolific_study_id=study_id[:64],
            prolific_session_id=session_id[:64],
            consent_version=consent_version,
            consented_at=now,
            questionnaire=questionnaire or {},
            status=Participant.Status.CONSENTED if screening else Participant.Status.RATING,
            language=language[:10] or "en",
            assignment_seed=seed,
            last_seen_at=now,
        )
        # The fields only: the token is random and the database enforces the unique constraints,
        # so their checks would be two more queries on every join for nothing.
        _full_clean(participant, exclude=["study"], validate_unique=False, validate_constraints=False)
        participant.save()
        trials = [
            Trial(
                participant=participant,
                group=g,
                position=p,
                stimulus_id=stimuli[(slot.condition, slot.item)],
                condition_id=slot.condition,
            )
            for g, group in enumerate(assignment.groups, start=1)
            for p, slot in enumerate(group, start=1)
        ]
        if assignment.practice is not None:
            slot = assignment.practice
            trials.append(
                Trial(
                    participant=participant,
                    group=0,
                    position=0,
                    is_practice=True,
                    stimulus_id=stimuli[(slot.condition, slot.item)],
                    condition_id=slot.condition,
                )
            )
        Trial.objects.bulk_create(trials)
        _exposure_add(exposure, Counter((slot.condition, slot.item) for slot in assignment.slots), 1)
        return participant


def _lock_participant(participant: Participant) -> Participant:
    """Reload the participant with its row locked: one volunteer's writes queue up, in one order
    (participant, then trial) everywhere, so they can never deadlock."""
    # of=("self",): lock the participant only; a plain FOR UPDATE would lock the joined study row
    # too and queue every volunteer's writes (and the joins) behind each other.
    return Participant.objects.select_related("study").select_for_update(of=("self",)).get(pk=participant.pk)


def _check_live(participant: Participant) -> None:
    """Refuse if the study closed or the session ended."""
    _check_open(participant.study)
    if participant.status == Participant.Status.SCREENED_OUT:
        raise ParticipantInactive("This session has ended after the headphone check. Thank you!")
    if participant.status == Participant.Status.ABANDONED:
        raise ParticipantInactive("This session expired after a long pause. Thank you for your time!")
    if participant.status == Participant.Status.COMPLETED:
        raise ParticipantInactive("You have already completed this study. Thank you!")


def _live_participant(participant: Participant) -> Participant:
    participant = _lock_participant(participant)
    _check_live(participant)
    return participant


HEADPHONE_PASS_MIN = 4  # of 6 Huggins-pitch trials (Milne et al. 2021)


@transaction.atomic
def participant_record_headphone_check(*, participant: Participant, correct: int, total: int) -> bool:
    """Record the headphone screening; a failure ends the session (status screened_out).

    Passing needs at least 4 of 6 correct (Milne et al. 2021), scaled as 2/3 for another total.
    Locks the participant row. Returns whether the volunteer passed.
    """
    participant = _live_participant(participant)
    if not (
        isinstance(correct, int) and isinstance(total, int) and 0 <= correct <= total and 0 < total <= 50
    ):
        raise StudyError("The headphone check result is not valid.")
    passed = correct * 6 >= HEADPHONE_PASS_MIN * total
    participant.headphone_correct = correct
    participant.headphone_total = total
    participant.headphone_passed = passed
    participant.status = Participant.Status.RATING if passed else Participant.Status.SCREENED_OUT
    participant.last_seen_at = timezone.now()
    participant.save(
        update_fields=["headphone_correct", "headphone_total", "headphone_passed", "status", "last_seen_at"]
    )
    if not passed:
        _exposure_release(participant.study, [participant.pk])
    return passed


@transaction.atomic
def participant_record_volume_check(*, participant: Participant) -> Participant:
    """The volunteer set a comfortable volume. Locks the participant row. Idempotent."""
    participant = _live_participant(participant)
    participant.volume_checked = True
    if participant.status == Participant.Status.CONSENTED:
        participant.status = (
            Participant.Status.SCREENING if participant.study.headphone_check else Participant.Status.RATING
        )
    participant.last_seen_at = timezone.now()
    participant.save(update_fields=["volume_checked", "status", "last_seen_at"])
    return participant


def _trial_of(
    participant: Participant,
    public_id: str,
    *,
    lock: bool,
    with_rating: bool = False,
    with_stimulus: bool = True,
) -> Trial:
    related = [*(["stimulus"] if with_stimulus else []), *(["rating"] if with_rating else [])]
    queryset = Trial.objects.select_related(*related) if related else Trial.objects.all()
    if lock:
        # The trial row only: locking the joined stimulus would queue everyone hearing that clip.
        queryset = queryset.select_for_update(of=("self",))
    # [:1], not .first(): public ids are unique, and .first()'s ORDER BY costs compiling per request.
    rows = list(queryset.filter(participant=participant, public_id=str(public_id))[:1])
    trial = rows[0] if rows else None
    if trial is None:
        # Same answer for a wrong id and another volunteer's id: nothing to learn by guessing.
        raise TrialNotFound("This clip is not part of your session.")
    return trial


@transaction.atomic
def trial_record_play(
    *, participant: Participant, public_id: str, event: str, position_s: float | None = None
) -> Trial:
    """Record that the volunteer's player started ("play") or reached the end ("ended").

    The first "play" starts the clock that rating_submit checks; every "play" counts one play.
    Locks the trial row so concurrent events never lose a count.
    """
    if event not in ("play", "ended"):
        raise StudyError("Unknown player event.")
    participant = _live_participant(participant)
    trial = _trial_of(participant, public_id, lock=True, with_stimulus=False)  # events need no file
    now = timezone.now()
    if event == "play":
        trial.plays += 1
        trial.first_played_at = trial.first_played_at or now
    else:
        if trial.first_played_at is None:
            raise StudyError("The clip has not been played yet.")
        trial.ended_at = now
    if len(trial.play_events) < MAX_PLAY_EVENTS:
        entry: dict[str, Any] = {"event": event, "at": now.isoformat()}
        if position_s is not None:
            entry["position_s"] = round(float(position_s), 3)
        trial.play_events = [*trial.play_events, entry]
    trial.save(update_fields=["plays", "first_played_at", "ended_at", "play_events"])
    _touch(participant, now)
    return trial


# last_seen_at only decides when a seat is abandoned (the study's seat timeout, minutes), so a
# request within this much of the last write skips the UPDATE (a tenth of the timeout, if less):
# most events and ratings then write only their own trial's row.
LAST_SEEN_RESOLUTION = timedelta(seconds=60)


def _touch(participant: Participant, now) -> None:
    """Record that the (locked) participant was active, at most once per LAST_SEEN_RESOLUTION."""
    resolution = min(LAST_SEEN_RESOLUTION, timedelta(minutes=participant.study.seat_timeout_minutes) / 10)
    if now - participant.last_seen_at >= resolution:
        participant.last_seen_at = now
        participant.save(update_fields=["last_seen_at"])


def _scale_value(name: str, value) -> int:
    if value is None or value == "":
        raise RatingInvalid("Please rate all three scales before continuing.")
    if isinstance(value, bool):
        raise RatingInvalid(f"{name.capitalize()} must be a whole number from 1 to 5.")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise RatingInvalid(f"{name.capitalize()} must be a whole number from 1 to 5.") from None
    if number != value and str(number) != str(value).strip():
        raise RatingInvalid(f"{name.capitalize()} must be a whole number from 1 to 5.")
    if not RATING_MIN <= number <= RATING_MAX:
        raise RatingInvalid(f"{name.capitalize()} must be from 1 to 5.")
    return number


def rating_submit(
    *, participant: Participant, public_id: str, naturalness: int, creativity: int, musicality: int
) -> Rating:
    """Rate one trial. Idempotent: a second submission returns the first rating unchanged.

    Locking: the participant and then the trial row are locked (`select_for_update`) before
    looking for an existing rating, so concurrent submissions of one trial queue up and all but
    the first return its rating; the one-to-one constraint backs this up where locks are weaker.

    Raises:
        TrialNotFound: the trial belongs to another session or does not exist.
        StudyNotOpen / ParticipantInactive: the study closed or the session ended.
        RatingInvalid: a scale is missing or outside 1-5.
        ListenIncomplete: the clip was not played, or not long enough ago to have been heard.
    """
    try:
        with transaction.atomic():
            return _rating_submit(participant, public_id, naturalness, creativity, musicality)
    except IntegrityError:
        existing = Rating.objects.filter(
            trial__participant=participant, trial__public_id=str(public_id)
        ).first()
        if existing is None:
            raise
        return existing


def _rating_submit(participant, public_id, naturalness, creativity, musicality) -> Rating:
    participant = _lock_participant(participant)
    trial = _trial_of(participant, public_id, lock=True, with_rating=True)
    existing = getattr(trial, "rating", None)
    if existing is not None:
        return existing
    _check_live(participant)
    values = {
        "naturalness": _scale_value("naturalness", naturalness),
        "creativity": _scale_value("creativity", creativity),
        "musicality": _scale_value("musicality", musicality),
    }
    if trial.first_played_at is None:
        raise ListenIncomplete("Please play the clip before rating it.")
    now = timezone.now()
    listened = (now - trial.first_played_at).total_seconds()
    if listened + LISTEN_TOLERANCE_S < trial.stimulus.duration_s:
        raise ListenIncomplete("Please listen to the whole clip before rating it.")
    rating = Rating(trial=trial, listen_time_s=round(listened, 3), plays=trial.plays, **values)
    # Field validators only: the 1-5 check constraints are the database's (three queries otherwise).
    rating.full_clean(exclude=["trial"], validate_unique=False, validate_constraints=False)
    rating.save()
    _touch(participant, now)
    return rating


@transaction.atomic
def participant_complete(*, participant: Participant) -> str:
    """Finish the session once every trial is rated; return the completion code. Idempotent.

    Locks the participant row.

    Raises:
        StudyError: some trials are still unrated.
    """
    locked = _lock_participant(participant)
    if locked.status == Participant.Status.COMPLETED:
        return locked.completion_code
    _check_live(locked)
    if locked.trials.filter(rating__isnull=True).exists():
        raise StudyError("Please rate every clip before finishing.")
    now = timezone.now()
    locked.status = Participant.Status.COMPLETED
    locked.completed_at = now
    locked.last_seen_at = now
    locked.completion_code = locked.study.completion_code
    locked.save(update_fields=["status", "completed_at", "last_seen_at", "completion_code"])
    return locked.completion_code
