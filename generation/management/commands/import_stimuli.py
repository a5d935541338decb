"""`python manage.py import_stimuli FOLDER`: one stimulus set per sub-folder of audio files."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from generation.importing import StimulusImportError, import_stimuli, item_mismatches


class Command(BaseCommand):
    help = (
        "Import FOLDER/<condition>/<item>.(wav|mp3|ogg|flac) as one ready stimulus set per condition "
        "(source: imported). Unreadable files are named and nothing is imported."
    )

    def add_arguments(self, parser):
        parser.add_argument("folder", help="a folder with one sub-folder of audio files per condition")
        parser.add_argument("--prefix", default="", help="prepended to every set name, e.g. 'pilot-'")
        parser.add_argument("--user", default="", help="username recorded as the sets' creator")

    def handle(self, *args, folder: str, prefix: str, user: str, **options):
        creator = None
        if user:
            creator = get_user_model().objects.filter(username=user).first()
            if creator is None:
                raise CommandError(f"No user named {user!r}.")
        try:
            sets = import_stimuli(folder, prefix=prefix, created_by=creator)
        except StimulusImportError as error:
            raise CommandError(str(error)) from error
        for stimulus_set in sets:
            stimuli = list(stimulus_set.stimuli.all())
            seconds = sum(s.duration_s for s in stimuli)
            self.stdout.write(
                f"{stimulus_set.name} v{stimulus_set.version} (id {stimulus_set.pk}): "
                f"{len(stimuli)} clips, {seconds:.1f} s"
            )
        for warning in item_mismatches(sets):
            self.stderr.write(
                self.style.WARNING(f"Items differ between sets; a study needs the same items: {warning}")
            )
        self.stdout.write(self.style.SUCCESS(f"Imported {len(sets)} stimulus set(s)."))
