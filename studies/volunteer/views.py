"""The volunteer's pages. Thin: the studies services decide, these views render their state.

Every page is drawn from the participant's state in the database (selectors.participant_current_step),
so reloading or coming back after a lost connection shows exactly the step the volunteer was on.
What the browser gets is blind: the study's title and texts, opaque per-trial URLs, and nothing
that names a condition, a model, a stimulus or a row.
"""

import numpy as np
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods
from django_ratelimit.core import is_ratelimited

from studies import selectors, services
from studies.models import SCALES, Study
from studies.volunteer import audio, headphones, pages
from studies.volunteer.forms import ConsentForm
from studies.volunteer.messages import translate
from studies.volunteer.selectors import participant_clip_stimulus, session_participant, session_participant_in
from studies.volunteer.services import remember_participant

JOIN_RATE_MESSAGE = "Too many people joined from your network in a short time. Please try again in a while."
HUGGINS_SESSION_KEY = "volunteer_huggins"  # token -> the participant's headphone test (answers stay here)
PROLIFIC_PARAMETERS = {"prolific_pid": "PROLIFIC_PID", "study_id": "STUDY_ID", "session_id": "SESSION_ID"}


def _visible_study(slug: str) -> Study:
    """Open and closed studies have a page; drafts do not exist for volunteers."""
    return get_object_or_404(Study.objects.exclude(status=Study.Status.DRAFT), slug=slug)


def _message(request, study, heading: str, message: str, status: int = 200) -> HttpResponse:
    return render(
        request,
        "studies/volunteer/message.html",
        {"study": study, "heading": heading, "message": message, "step": "message"},
        status=status,
    )


@never_cache
@require_http_methods(["GET", "POST"])
def entry(request: HttpRequest, slug: str) -> HttpResponse:
    """What the study is, consent and the optional questionnaire; posting it joins the study."""
    study = _visible_study(slug)
    if session_participant(request=request, study=study) is not None:
        return redirect("volunteer:session", slug=slug)
    if study.status != Study.Status.OPEN:
        return _message(request, study, _("This study has closed"), translate("This study has closed."))
    if request.method == "POST":
        # Joins per client address are limited (settings.VOLUNTEER_JOIN_RATE, on the cache), so a
        # burst of fake consents cannot take the seats of real volunteers.
        if is_ratelimited(
            request, group="volunteer-join", key="ip", rate=settings.VOLUNTEER_JOIN_RATE, increment=True
        ):
            return _message(
                request, study, _("Please try again later"), translate(JOIN_RATE_MESSAGE), status=429
            )
        form = ConsentForm(request.POST)
        if form.is_valid():
            try:
                participant = services.participant_join(
                    study=study,
                    consent_version=form.cleaned_data["consent_version"],
                    questionnaire=form.questionnaire(),
                    prolific_pid=form.cleaned_data["prolific_pid"],
                    study_id=form.cleaned_data["study_id"],
                    session_id=form.cleaned_data["session_id"],
                    language=get_language() or "en",
                )
            except services.ParticipantElsewhere as error:
                # The session stays with the browser that joined (docs/volunteer.md); this one gets
                # no session and learns nothing about it.
                return _message(
                    request, study, _("Already taking part"), translate(error.messages[0]), status=409
                )
            except services.StudyError as error:
                form.add_error(None, translate(error.messages[0]))
            else:
                remember_participant(request=request, participant=participant)
                return redirect("volunteer:session", slug=slug)
    else:
        initial = {field: request.GET.get(param, "") for field, param in PROLIFIC_PARAMETERS.items()}
        try:
            for value in initial.values():
                services.prolific_id_clean(value)
        except services.StudyError as error:
            return _message(
                request, study, _("This link is not valid"), translate(error.messages[0]), status=400
            )
        form = ConsentForm(initial={"consent_version": study.consent_version, **initial})
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "studies/volunteer/entry.html",
        {"study": study, "form": form, "step": "consent"},
        status=status,
    )


def _page_config(request, slug: str, step: str, **extra) -> dict:
    return {
        "step": step,
        "csrf": get_token(request),
        "strings": {
            "error": _("Something went wrong. Please try again."),
            "network": _("The connection was lost. Check your internet connection and try again."),
            "cannot_play": _("Your browser did not start the sound. Please press the button again."),
            "cannot_load": _(
                "The sound could not be loaded. Check your connection and press the button again."
            ),
            "play": _("Play"),
            "playing": _("Playing…"),
            "played": _("Played"),
            "play_again": _("Play again"),
            "may_rate": _("You can rate the clip now (and listen again if you like)."),
            "missing": _("Please rate:"),
        },
        **extra,
    }


def _render_step(request, template: str, context: dict) -> HttpResponse:
    """A step's page: the language form's {% csrf_token %} shows the token the page script got
    (page_config), instead of masking the secret a second time for the same response."""
    config = context.get("page_config")
    if config and "csrf" in config:
        context["csrf_token"] = config["csrf"]
    return render(request, template, context)


def _scales(study: Study) -> list[dict]:
    labels = {"naturalness": _("Naturalness"), "creativity": _("Creativity"), "musicality": _("Musicality")}
    # The definitions in the language shown: the researcher's own for it, else the built-in ones'
    # translation (Study.text).
    definitions = study.text("scale_definitions", get_language() or settings.LANGUAGE_CODE)
    return [{"name": name, "label": labels[name], "definition": definitions.get(name, "")} for name in SCALES]


def _huggins_plan(request, participant) -> dict:
    plans = request.session.setdefault(HUGGINS_SESSION_KEY, {})
    if participant.token not in plans:
        plans[participant.token] = headphones.new_plan(np.random.default_rng())
        request.session.modified = True
    return plans[participant.token]


@never_cache
@require_GET
def session(request: HttpRequest, slug: str) -> HttpResponse:
    """The volunteer's current step: screening, practice, a trial, or the end."""
    participant = session_participant_in(request=request, slug=slug)
    if participant is None:
        _visible_study(slug)  # 404 for a draft or an unknown study
        return redirect("volunteer:entry", slug=slug)
    study = participant.study
    step = selectors.participant_current_step(participant=participant)
    context = {"study": study, "step": step.kind}

    if step.kind == "volume":
        config = _page_config(
            request, slug, "volume", urls={"volume": reverse("volunteer:api-volume", args=[slug])}
        )
        context |= {"tone_url": reverse("volunteer:tone", args=[slug]), "page_config": config}
        return _render_step(request, "studies/volunteer/volume.html", context)

    if step.kind == "headphone":
        plan = _huggins_plan(request, participant)
        number = len(plan["responses"]) + 1
        config = _page_config(
            request,
            slug,
            "headphones",
            urls={"answer": reverse("volunteer:api-headphones", args=[slug, number])},
        )
        context |= {
            "number": number,
            "total": headphones.TRIALS,
            "sound_url": reverse("volunteer:huggins", args=[slug]),
            "page_config": config,
        }
        return _render_step(request, "studies/volunteer/headphones.html", context)

    if step.kind in ("practice", "trial"):
        trial = step.trial
        scales = _scales(study)
        config = _page_config(
            request,
            slug,
            step.kind,
            urls={
                "events": reverse("volunteer:api-events", args=[slug, trial.public_id]),
                "rating": reverse("volunteer:api-rating", args=[slug, trial.public_id]),
            },
            scales=[{"name": s["name"], "label": str(s["label"])} for s in scales],
            played_to_end=trial.ended_at is not None,
        )
        # The values as text: the template shows each twice per scale, and an int would go through
        # number localisation every time (the same digits in every language offered).
        points = [
            ("1", _("Very poor")),
            ("2", _("Poor")),
            ("3", _("Fair")),
            ("4", _("Good")),
            ("5", _("Excellent")),
        ]
        context |= {
            "practice": step.kind == "practice",
            "progress": {
                "group": step.group_number,
                "groups": step.groups,
                "clip": step.clip_number,
                "clips": step.clips_per_group,
                "done": step.rated,
                "total": step.total,
            },
            "clip_url": reverse("volunteer:clip", args=[slug, trial.public_id]),
            "scales": scales,
            "points": points,
            "page_config": config,
        }
        return _render_step(request, "studies/volunteer/trial.html", context)

    if step.kind in ("practice_page", "page"):
        template, page_context = pages.page_view(request, slug, step, _page_config)
        return _render_step(request, template, context | page_context)

    if step.kind in ("done", "completed"):
        try:
            code = services.participant_complete(participant=participant)
        except services.StudyError as error:
            return _message(request, study, _("Not finished yet"), translate(error.messages[0]), status=409)
        context |= {"completion_code": code, "redirect_url": study.redirect_url}
        return render(request, "studies/volunteer/done.html", context)

    endings = {
        "screened_out": (
            _("Thank you"),
            _(
                "This study needs headphones, and the check suggests that the sound is not reaching "
                "your ears separately. Your session has ended; thank you for your time."
            ),
        ),
        "expired": (
            _("Session expired"),
            translate("This session expired after a long pause. Thank you for your time!"),
        ),
        "closed": (_("This study has closed"), translate("This study has closed.")),
    }
    heading, message = endings.get(step.kind, (_("Thank you"), ""))
    return _message(request, study, heading, message)


def _participant_or_404(request, slug: str):
    participant = session_participant_in(request=request, slug=slug)
    if participant is None:
        raise Http404
    return participant


@require_http_methods(["GET", "HEAD"])
def clip(request: HttpRequest, slug: str, public_id: str) -> HttpResponse:
    """A trial's or a page clip's audio, only for the participant it belongs to."""
    stimulus = participant_clip_stimulus(request=request, slug=slug, public_id=public_id)
    if stimulus is None:
        raise Http404
    return audio.audio_response(request, audio.clean_audio(stimulus.audio.path))


@require_http_methods(["GET", "HEAD"])
def huggins(request: HttpRequest, slug: str) -> HttpResponse:
    """The sound of the headphone-check trial the volunteer is on (the URL never says which)."""
    participant = _participant_or_404(request, slug)
    plan = _huggins_plan(request, participant)
    index = len(plan["responses"])
    if index >= headphones.TRIALS:
        raise Http404
    config = headphones.HugginsConfig()
    samples = headphones.huggins_trial(
        seed=plan["seeds"][index], pitch_interval=plan["answers"][index], config=config
    )
    return audio.audio_response(
        request, audio.generated_wav(headphones.wav_bytes(samples, config.sample_rate))
    )


@require_http_methods(["GET", "HEAD"])
def tone(request: HttpRequest, slug: str) -> HttpResponse:
    """The volume-check tone."""
    _participant_or_404(request, slug)
    return audio.audio_response(
        request, audio.generated_wav(headphones.wav_bytes(headphones.volume_tone(), 22050))
    )
