from django.contrib import admin

from generation.models import Checkpoint, ModelVariant, Stimulus, StimulusSet


@admin.register(ModelVariant)
class ModelVariantAdmin(admin.ModelAdmin):
    list_display = ["key", "name"]


@admin.register(Checkpoint)
class CheckpointAdmin(admin.ModelAdmin):
    list_display = ["variant", "label", "sha256", "uploaded_by", "created_at"]
    list_filter = ["variant"]


class StimulusInline(admin.TabularInline):
    model = Stimulus
    extra = 0
    fields = ["position", "item_key", "duration_s", "loudness_lufs", "audio_sha256"]
    readonly_fields = fields


@admin.register(StimulusSet)
class StimulusSetAdmin(admin.ModelAdmin):
    list_display = ["name", "version", "source", "variant", "status", "progress_done", "progress_total"]
    list_filter = ["source", "status", "variant"]
    inlines = [StimulusInline]
