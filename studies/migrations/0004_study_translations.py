# Study texts in every offered language (issue 17): Study.translations, and a built-in consent
# text (translated by the catalog) for studies that give none.

from django.db import migrations, models

import studies.models


class Migration(migrations.Migration):
    dependencies = [
        ("studies", "0003_exposure"),
    ]

    operations = [
        migrations.AddField(
            model_name="study",
            name="translations",
            field=models.JSONField(
                blank=True,
                default=dict,
                help_text='The texts in other offered languages: {"zh-hans": {"title": ..., "description": ..., '
                '"consent_text": ..., "instructions": ..., "scale_definitions": {"naturalness": ...}}}; '
                "a text not given falls back to the study's own (see Study.text).",
            ),
        ),
        migrations.AlterField(
            model_name="study",
            name="consent_text",
            field=models.TextField(
                blank=True,
                default=studies.models.default_consent_text,
                help_text="In the site's language (English); other languages in translations.",
            ),
        ),
    ]
