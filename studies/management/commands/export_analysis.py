"""`python manage.py export_analysis --study S --out report.zip`: the full analysis of a study as one zip."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from studies.analysis import AnalysisConfig, analyse
from studies.analysis.design_report import build_design_zip, design_headline
from studies.analysis.export import export_zip
from studies.analysis.mushra import MushraConfig, analyse_mushra
from studies.analysis.pairwise import PairwiseConfig, analyse_pairwise
from studies.analysis.report import ReportMeta, build_zip
from studies.analysis.synthetic import (
    MushraPanel,
    PairwisePanel,
    Panel,
    pairwise_roles,
    synthetic_mushra,
    synthetic_pairwise,
    synthetic_ratings,
)
from studies.models import Study

THRESHOLD_OPTIONS = {
    "min_rating_variance": float,
    "min_panel_correlation": float,
    "max_unfinished_fraction": float,
    "target_ci_width": float,
    "bootstrap_resamples": int,
    "seed": int,
}


class Command(BaseCommand):
    help = "Analyse a study's ratings and write ratings, summary, tests, exclusions, figures and report.html as one zip."

    def add_arguments(self, parser):
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--study", help="Slug of the study.")
        source.add_argument(
            "--synthetic",
            type=int,
            metavar="LISTENERS",
            help="Instead of a study: a synthetic panel of this many listeners (a demo of the report). "
            "rating: paper-like, one flat responder and one reversed; mushra: one listener scores the "
            "hidden reference low, one the anchor high; pairwise: one listener always picks the left clip.",
        )
        parser.add_argument(
            "--test-type",
            choices=["rating", "mushra", "pairwise"],
            default=None,
            help="The design of the synthetic panel (default rating); with --study it must match the "
            "study's own.",
        )
        parser.add_argument("--out", required=True, type=Path, help="Where to write the zip.")
        for name, kind in THRESHOLD_OPTIONS.items():
            default = getattr(AnalysisConfig(), name)
            parser.add_argument(
                f"--{name.replace('_', '-')}", type=kind, default=None, help=f"Override (default {default})."
            )
        parser.add_argument("--no-headphone-check", action="store_true", help="Do not exclude failed checks.")

    def handle(self, *args, **options):
        overrides = {k: options[k] for k in THRESHOLD_OPTIONS if options[k] is not None}
        if options["no_headphone_check"]:
            overrides["require_headphone_check"] = False
        out = Path(options["out"])
        out.parent.mkdir(parents=True, exist_ok=True)
        test_type = options["test_type"]
        if options["synthetic"] and test_type not in (None, "rating"):
            data = self._synthetic_design(test_type, options["synthetic"], overrides)
        elif options["synthetic"]:
            panel = Panel(listeners=options["synthetic"], flat=(2,), reversed=(5,), seed=options["seed"] or 0)
            result = analyse(
                synthetic_ratings(panel),
                config=AnalysisConfig.from_options(overrides),
                study_order=list(panel.conditions),
            )
            meta = ReportMeta(title="Synthetic paper-like panel", slug="synthetic")
            data = build_zip(result, meta)
        else:
            study = Study.objects.filter(slug=options["study"]).first()
            if study is None:
                raise CommandError(f"No study with slug {options['study']!r}.")
            if test_type not in (None, study.test_type):
                raise CommandError(f"Study {study.slug!r} is a {study.test_type} study, not {test_type}.")
            data = export_zip(study, overrides=overrides)
        out.write_bytes(data)
        self.stdout.write(self.style.SUCCESS(f"Wrote {out} ({len(data) / 1024:.0f} KiB)."))

    def _synthetic_design(self, test_type: str, listeners: int, overrides: dict) -> bytes:
        seed = overrides.get("seed", 0)
        if test_type == "mushra":
            panel = MushraPanel(listeners=listeners, reference_low=(2,), anchor_high=(5,), seed=seed)
            result = analyse_mushra(
                synthetic_mushra(panel),
                config=MushraConfig.from_options(overrides),
                study_order=list(panel.conditions),
            )
            title = "Synthetic MUSHRA panel"
        else:
            panel = PairwisePanel(listeners=listeners, left_only=(2,), seed=seed)
            result = analyse_pairwise(
                synthetic_pairwise(panel),
                roles=pairwise_roles(panel),
                config=PairwiseConfig.from_options(overrides),
                study_order=list(panel.strengths),
            )
            title = "Synthetic pairwise panel"
        for line in design_headline(result):
            self.stdout.write(line)
        return build_design_zip(result, ReportMeta(title=title, slug=f"synthetic-{test_type}"))
