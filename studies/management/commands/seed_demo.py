"""Build the demo: the researcher account, the five conditions' stimulus sets (+ the low anchor), the open study `demo`.

Safe to run again: every step finds what an earlier run made (stimulus sets by their request key,
the study by its slug) and only does what is missing.
"""

from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from docbgm_site.access import RESEARCHER_GROUP
from generation import selectors
from generation.checkpoints import checkpoint_paths
from generation.management.commands.generate_stimuli import build_set
from generation.models import StimulusSet
from generation.paths import PRETRAINED_DIR
from generation.stimuli import SAMPLING_TEMPERATURE, SECONDS

STUDY_SLUG = "demo"
ITEMS = 15  # the paper's design: 3 groups x 5 clips
# (condition name, generate_stimuli variant, role): the paper's five conditions, in the study's order.
CONDITIONS = [
    ("proposed", "proposed", "system"),
    ("bilstm", "bilstm", "system"),
    ("ec2vae", "ec2vae", "system"),
    ("vded", "vded", "system"),
    ("real", "real", "reference"),
]
# Built too, on the same items, for studies that want a low anchor; not in the 3 x 5 demo design.
EXTRA_SETS = [("low-anchor", "low-anchor", "low_anchor")]


class Command(BaseCommand):
    help = (
        "Create the demo researcher (researcher / researcher), the demo stimulus sets from the committed "
        "checkpoints and the held-out chorales, and the open study `demo`. Safe to run again."
    )

    def add_arguments(self, parser):
        parser.add_argument("--items", type=int, default=ITEMS)
        parser.add_argument("--seconds", type=float, default=SECONDS)
        parser.add_argument("--corpus", help="corpus of the held-out progressions (default: chorales)")
        parser.add_argument(
            "--checkpoints", default=str(PRETRAINED_DIR), help="folder of <variant>.safetensors + .json pairs"
        )
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **options):
        researcher = self.researcher()
        sets: list[tuple[str, StimulusSet, str]] = []
        folder = Path(options["checkpoints"])
        for name, variant, role in CONDITIONS + EXTRA_SETS:
            weights = checkpoint_paths(folder / variant)[0]
            if variant not in ("real", "low-anchor") and not weights.exists():
                self.stderr.write(
                    self.style.WARNING(
                        f"!!! SKIPPING condition {name!r}: no committed checkpoint {weights} "
                        f"(train it with `python manage.py train {variant}`)"
                    )
                )
                continue
            stimulus_set = build_set(
                variant=variant,
                checkpoint=None if variant in ("real", "low-anchor") else str(weights),
                items=options["items"],
                seconds=options["seconds"],
                seed=0,
                temperature=SAMPLING_TEMPERATURE,
                corpus=options["corpus"],
                soundfont="",
                progress=not options["no_progress"],
            )
            if stimulus_set.status != StimulusSet.Status.READY:
                self.stderr.write(self.style.ERROR(f"!!! {stimulus_set} failed: {stimulus_set.error}"))
                continue
            sets.append((name, stimulus_set, role))
            self.stdout.write(f"{name}: {stimulus_set} ({stimulus_set.stimuli.count()} clips)")
        if sets:
            low, high, spread = selectors.loudness_spread(stimulus_sets=[s for _, s, _ in sets])
            self.stdout.write(
                f"Loudness over every demo clip: {low:.2f} to {high:.2f} LUFS, spread {spread:.2f} LU"
            )
        self.study(researcher, [c for c in sets if c[0] in {name for name, _, _ in CONDITIONS}])
        self.stdout.write(self.style.SUCCESS("Demo researcher: researcher / researcher"))

    def researcher(self):
        group, _ = Group.objects.get_or_create(name=RESEARCHER_GROUP)
        user, created = get_user_model().objects.get_or_create(
            username="researcher", defaults={"is_staff": True, "email": "researcher@example.org"}
        )
        if created:
            user.set_password("researcher")
            user.save()
        user.groups.add(group)
        return user

    def study(self, owner, sets: list[tuple[str, StimulusSet, str]]) -> None:
        from studies.models import Study
        from studies.services import StudyError, study_create, study_open

        study = Study.objects.filter(slug=STUDY_SLUG).first()
        if study is not None and study.status == Study.Status.OPEN:
            self.stdout.write(f"Study {STUDY_SLUG!r} is open already.")
            return
        systems = [name for name, _, role in sets if role == "system"]
        if not systems or not any(role == "reference" for _, _, role in sets):
            self.stderr.write(
                self.style.WARNING(
                    f"!!! The study {STUDY_SLUG!r} is NOT created: it needs at least one model condition and real "
                    f"music; ready now: {[name for name, _, _ in sets]}"
                )
            )
            return
        try:
            with transaction.atomic():
                if study is None:
                    study = study_create(
                        slug=STUDY_SLUG,
                        title="Documentary background music: how natural, creative and musical?",
                        owner=owner,
                        conditions=sets,
                        groups=3,
                        clips_per_group=5,
                    )
                study_open(study=study)
        except StudyError as error:
            self.stderr.write(
                self.style.ERROR(f"!!! The study {STUDY_SLUG!r} could not open: {'; '.join(error.messages)}")
            )
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"Study {STUDY_SLUG!r} is open with conditions {[name for name, _, _ in sets]}"
            )
        )
