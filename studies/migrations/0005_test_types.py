# The MUSHRA and pairwise designs (issue 17): Study.test_type and design_options, and the pages,
# clips, scores, choices and pair exposure counts they use.

import django.core.validators
import django.db.models.deletion
from django.db import migrations, models

import studies.models


class Migration(migrations.Migration):
    dependencies = [
        ("generation", "0004_opaque_file_names"),
        ("studies", "0004_study_translations"),
    ]

    operations = [
        migrations.AddField(
            model_name="study",
            name="test_type",
            field=models.CharField(
                choices=[
                    ("rating", "Rating (the paper's 1-5 scales, one clip at a time)"),
                    ("mushra", "MUSHRA (every condition of an item on one page, 0-100)"),
                    ("pairwise", "Pairwise preference (two clips of one item)"),
                ],
                default="rating",
                max_length=10,
            ),
        ),
        migrations.AddField(
            model_name="study",
            name="design_options",
            field=models.JSONField(
                blank=True,
                default=dict,
                help_text="Options of the MUSHRA or pairwise design (services.design_options_clean); "
                "empty for the rating design.",
            ),
        ),
        migrations.CreateModel(
            name="Page",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "position",
                    models.PositiveSmallIntegerField(
                        help_text="1.. in the volunteer's order; 0 for practice."
                    ),
                ),
                ("item_key", models.CharField(max_length=200)),
                ("is_practice", models.BooleanField(default=False)),
                (
                    "public_id",
                    models.CharField(
                        default=studies.models.new_trial_public_id, editable=False, max_length=40, unique=True
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("submitted_at", models.DateTimeField(blank=True, null=True)),
                (
                    "participant",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="pages",
                        to="studies.participant",
                    ),
                ),
            ],
            options={
                "ordering": ["participant", "position"],
                "constraints": [
                    models.UniqueConstraint(fields=("participant", "position"), name="page_slot")
                ],
            },
        ),
        migrations.CreateModel(
            name="PageClip",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "slot",
                    models.PositiveSmallIntegerField(
                        help_text='0..; shown as "ABCDEFGH"[slot]; pairwise 0 left, 1 right.'
                    ),
                ),
                (
                    "public_id",
                    models.CharField(
                        default=studies.models.new_trial_public_id, editable=False, max_length=40, unique=True
                    ),
                ),
                ("plays", models.PositiveIntegerField(default=0)),
                ("first_played_at", models.DateTimeField(blank=True, null=True)),
                ("ended_at", models.DateTimeField(blank=True, null=True)),
                (
                    "condition",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="page_clips",
                        to="studies.condition",
                    ),
                ),
                (
                    "page",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="clips", to="studies.page"
                    ),
                ),
                (
                    "stimulus",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="page_clips",
                        to="generation.stimulus",
                    ),
                ),
            ],
            options={
                "ordering": ["page", "slot"],
                "constraints": [
                    models.UniqueConstraint(fields=("page", "slot"), name="page_clip_slot"),
                    models.UniqueConstraint(fields=("page", "condition"), name="page_clip_condition"),
                ],
            },
        ),
        migrations.CreateModel(
            name="MushraScore",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("scale", models.CharField(max_length=40)),
                (
                    "score",
                    models.PositiveSmallIntegerField(
                        validators=[
                            django.core.validators.MinValueValidator(0),
                            django.core.validators.MaxValueValidator(100),
                        ]
                    ),
                ),
                ("submitted_at", models.DateTimeField(auto_now_add=True)),
                (
                    "page_clip",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="scores",
                        to="studies.pageclip",
                    ),
                ),
            ],
            options={
                "ordering": ["page_clip", "scale"],
                "constraints": [
                    models.UniqueConstraint(fields=("page_clip", "scale"), name="mushra_score_clip_scale"),
                    models.CheckConstraint(
                        condition=models.Q(("score__gte", 0), ("score__lte", 100)), name="mushra_score_0_100"
                    ),
                ],
            },
        ),
        migrations.CreateModel(
            name="PairwiseChoice",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("question", models.CharField(max_length=40)),
                ("submitted_at", models.DateTimeField(auto_now_add=True)),
                (
                    "chosen",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="choices",
                        to="studies.pageclip",
                    ),
                ),
                (
                    "page",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="choices", to="studies.page"
                    ),
                ),
            ],
            options={
                "ordering": ["page", "question"],
                "constraints": [
                    models.UniqueConstraint(fields=("page", "question"), name="pairwise_choice_question")
                ],
            },
        ),
        migrations.CreateModel(
            name="PairExposure",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("item_key", models.CharField(max_length=200)),
                ("first_left", models.PositiveIntegerField(default=0)),
                ("first_right", models.PositiveIntegerField(default=0)),
                (
                    "first",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="pair_exposures_first",
                        to="studies.condition",
                    ),
                ),
                (
                    "second",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="pair_exposures_second",
                        to="studies.condition",
                    ),
                ),
            ],
            options={
                "ordering": ["first", "second", "item_key"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("first", "second", "item_key"), name="pair_exposure_pair"
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("first__lt", models.F("second"))), name="pair_exposure_order"
                    ),
                ],
            },
        ),
    ]
