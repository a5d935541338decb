"""Researcher pages under /researcher/: list, create, open/close, watch progress live.

Thin views: forms validate, services change, selectors read. Anonymous visitors are sent to the
login page; a logged-in user who is neither staff nor in the "researcher" group gets 403; another
researcher's study answers 404.
"""

from django.contrib import messages
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from docbgm_site.access import researcher_required
from studies import selectors, services
from studies.analysis.live import study_live_results
from studies.forms import ConditionFormSet, StudyForm, condition_initial
from studies.models import Study


def _study_for(request, slug: str) -> Study:
    study = selectors.study_for_user(slug=slug, user=request.user)
    if study is None:
        raise Http404("No such study.")
    return study


@researcher_required
def study_list(request):
    studies = selectors.study_list(user=request.user)
    return render(request, "researcher/study_list.html", {"studies": studies})


@researcher_required
def study_create(request):
    if request.method == "POST":
        form = StudyForm(request.POST)
        formset = ConditionFormSet(request.POST, prefix="conditions")
        if form.is_valid() and formset.is_valid():
            try:
                study = services.study_create(
                    owner=request.user, conditions=formset.conditions(), **form.service_options()
                )
            except services.StudyError as error:
                form.add_error(None, error)
            else:
                messages.success(request, f"Study “{study.title}” created as a draft.")
                return redirect("researcher:study-detail", slug=study.slug)
    else:
        form = StudyForm()
        formset = ConditionFormSet(initial=condition_initial(), prefix="conditions")
    return render(request, "researcher/study_form.html", {"form": form, "formset": formset})


@researcher_required
def study_detail(request, slug: str):
    study = _study_for(request, slug)
    context = {
        "study": study,
        "conditions": study.conditions.select_related("stimulus_set"),
        "progress": selectors.study_progress(study=study),
        "volunteer_url": request.build_absolute_uri(reverse("volunteer:entry", kwargs={"slug": study.slug})),
        "progress_url": reverse("researcher:study-progress", kwargs={"slug": study.slug}),
        **study_live_results(study),
    }
    return render(request, "researcher/study_detail.html", context)


@researcher_required
def study_progress(request, slug: str):
    """JSON polled by the study page to refresh its counts."""
    progress = selectors.study_progress(study=_study_for(request, slug))
    return JsonResponse(progress.as_dict())


@require_POST
@researcher_required
def study_open(request, slug: str):
    study = _study_for(request, slug)
    try:
        services.study_open(study=study)
    except services.StudyError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, "The study is open: share the volunteer link.")
    return redirect("researcher:study-detail", slug=slug)


@require_POST
@researcher_required
def study_close(request, slug: str):
    services.study_close(study=_study_for(request, slug))
    messages.success(request, "The study is closed.")
    return redirect("researcher:study-detail", slug=slug)
