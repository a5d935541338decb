"""`python manage.py export_analysis --study S --out report.zip`: the full analysis of a study as one zip."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from studies.analysis import AnalysisConfig, analyse
from studies.analysis.report import ReportMeta, build_zip, export_zip
from studies.analysis.synthetic import Panel, synthetic_ratings
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
            help="Instead of a study: a synthetic paper-like panel of this many listeners, one of them "
            "a flat responder and one reversed (a demo of the report).",
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
        if options["synthetic"]:
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
            data = export_zip(study, overrides=overrides)
        out.write_bytes(data)
        self.stdout.write(self.style.SUCCESS(f"Wrote {out} ({len(data) / 1024:.0f} KiB)."))
