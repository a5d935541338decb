"""`python manage.py export_analysis --study S --out report.zip`: the full analysis of a study as one zip."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from studies.analysis import AnalysisConfig
from studies.analysis.report import export_zip
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
        parser.add_argument("--study", required=True, help="Slug of the study.")
        parser.add_argument("--out", required=True, type=Path, help="Where to write the zip.")
        for name, kind in THRESHOLD_OPTIONS.items():
            default = getattr(AnalysisConfig(), name)
            parser.add_argument(
                f"--{name.replace('_', '-')}", type=kind, default=None, help=f"Override (default {default})."
            )
        parser.add_argument("--no-headphone-check", action="store_true", help="Do not exclude failed checks.")

    def handle(self, *args, **options):
        study = Study.objects.filter(slug=options["study"]).first()
        if study is None:
            raise CommandError(f"No study with slug {options['study']!r}.")
        overrides = {k: options[k] for k in THRESHOLD_OPTIONS if options[k] is not None}
        if options["no_headphone_check"]:
            overrides["require_headphone_check"] = False
        out = Path(options["out"])
        out.parent.mkdir(parents=True, exist_ok=True)
        data = export_zip(study, overrides=overrides)
        out.write_bytes(data)
        self.stdout.write(self.style.SUCCESS(f"Wrote {out} ({len(data) / 1024:.0f} KiB)."))
