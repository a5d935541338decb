"""Writes of the generation app: checkpoint uploads and stimulus sets (request, build, recover).

HackSoft style: keyword-only typed functions, `full_clean()` before `save()`, one transaction per
state change. The build is the one long job: it renders files outside any transaction, reports
progress in short separate writes (so the researcher's page can poll it), and publishes every
Stimulus row in one final transaction. Web requests only ever request; a Celery worker builds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import tempfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from generation.audio import sha256_file
from generation.models import Checkpoint, ModelVariant, Stimulus, StimulusSet
from generation.nets.base import VARIANTS, MelodyModel
from generation.rendering import (
    MP3_BITRATE_KBPS,
    SAMPLE_RATE,
    TARGET_LUFS,
    TRUE_PEAK_CEILING_DBTP,
    render_clip,
    save_clip,
)
from generation.stimuli import (
    BEATS_PER_BAR,
    SAMPLING_TEMPERATURE,
    SECONDS,
    TEMPO_BPM,
    bar_seconds,
    clip_steps,
    heldout_items,
    shuffle_pitches,
)
from generation.storage import opaque_name

logger = logging.getLogger(__name__)

DEFAULT_CORPUS = "chorales"  # settings.GENERATION_STIMULUS_CORPUS overrides it (tests use a tiny corpus)
DEFAULT_ITEMS = 15  # the paper's design: 3 groups x 5 clips, one clip per item
ACCOMPANIMENT = "block"  # block chords, the same for every condition
# A build on another machine that has not reported for this long is taken to be dead.
BUILD_LEASE = timedelta(minutes=10)
SET_NAMES = {StimulusSet.Source.REAL: "real", StimulusSet.Source.LOW_ANCHOR: "low-anchor"}
MEDIA_FILES = (("stimuli/audio", ".mp3"), ("stimuli/flac", ".flac"), ("stimuli/midi", ".mid"))


class BuildSuperseded(Exception):
    """Another worker took this build over; this one stops without touching the set."""


# ------------------------------------------------------------------------------------------ checkpoints


def _read_sidecar(sidecar: File | dict[str, Any]) -> dict[str, Any]:
    if isinstance(sidecar, dict):
        return sidecar
    try:
        sidecar.seek(0)
        data = json.loads(sidecar.read())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValidationError({"sidecar": f"the sidecar is not valid JSON ({error})"}) from None
    if not isinstance(data, dict):
        raise ValidationError({"sidecar": "the sidecar must be a JSON object"})
    return data


def model_variant_for(*, key: str) -> ModelVariant:
    """The ModelVariant row of a registered melody network, created on first use.

    The rows are seeded by a data migration with names for people, but a registered network must work
    even where those rows are gone (a flushed test database, a variant added after the migration).
    """
    network = VARIANTS.get(key)
    if network is None or not issubclass(network, MelodyModel):
        raise ValidationError({"variant": f"{key!r} is not a melody model variant of this project"})
    summary = (network.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
    variant, _ = ModelVariant.objects.get_or_create(
        key=key, defaults={"name": network.__name__, "description": summary}
    )
    return variant


def checkpoint_upload(
    *,
    weights: File,
    sidecar: File | dict[str, Any],
    label: str = "",
    uploaded_by=None,
    variant_key: str | None = None,
) -> Checkpoint:
    """Validate and store a checkpoint: a safetensors file with the JSON sidecar that rebuilds it.

    The network the sidecar describes is rebuilt and the weights loaded into it before anything is
    stored, so a pickle, a truncated file, a sidecar of another variant or encoding version, or weights
    whose shapes do not fit are refused with the reason and leave no file and no row. Uploading the
    same weights again returns the checkpoint already stored.

    Raises:
        ValidationError: with the reason, keyed by "weights", "sidecar" or "variant".
    """
    from generation.checkpoints import CheckpointError, validate_checkpoint

    config = _read_sidecar(sidecar)
    with tempfile.TemporaryDirectory() as folder:
        local = Path(folder) / "upload.safetensors"
        with open(local, "wb") as handle:
            weights.seek(0)
            for chunk in (
                weights.chunks() if hasattr(weights, "chunks") else iter(lambda: weights.read(1 << 20), b"")
            ):
                handle.write(chunk)
        sha256 = sha256_file(local)
        try:
            validate_checkpoint(local, config)
        except CheckpointError as error:
            raise ValidationError({"weights": str(error)}) from None
        recorded = config.get("weights_sha256")
        if recorded and recorded != sha256:
            raise ValidationError(
                {"weights": "the weights are not the file the sidecar describes (sha256 differs)"}
            )
        key = str(config.get("variant"))
        if variant_key and variant_key != key:
            raise ValidationError({"variant": f"the checkpoint is a {key!r} network, not {variant_key!r}"})
        variant = model_variant_for(key=key)
        existing = Checkpoint.objects.filter(sha256=sha256).first()
        if existing is not None:
            return existing
        checkpoint = Checkpoint(
            variant=variant, label=label, config=config, sha256=sha256, uploaded_by=uploaded_by
        )
        with transaction.atomic():
            with open(local, "rb") as handle:
                checkpoint.weights.save("upload.safetensors", File(handle), save=False)  # opaque name
            try:
                checkpoint.full_clean()
                checkpoint.save()
            except Exception:
                checkpoint.weights.delete(save=False)
                raise
    return checkpoint


def checkpoint_register_file(*, path: Path, label: str = "", uploaded_by=None) -> Checkpoint:
    """Register a checkpoint from disk (the committed ones, or `--checkpoint PATH`) like an upload."""
    from generation.checkpoints import CheckpointError, checkpoint_paths, read_sidecar

    weights_path, _ = checkpoint_paths(path)
    try:
        sidecar = read_sidecar(weights_path)
    except CheckpointError as error:
        raise ValidationError({"sidecar": str(error)}) from None
    if not weights_path.exists():
        raise ValidationError({"weights": f"{weights_path} does not exist"})
    with open(weights_path, "rb") as handle:
        return checkpoint_upload(weights=File(handle), sidecar=sidecar, label=label, uploaded_by=uploaded_by)


# ---------------------------------------------------------------------------------------- stimulus sets


def _request_key(*, source: str, checkpoint: Checkpoint | None, parameters: dict[str, Any]) -> str:
    payload = {
        "source": source,
        "checkpoint": checkpoint.sha256 if checkpoint else None,
        "parameters": parameters,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _lock_family(name: str) -> None:
    """Hold the lock of stimulus-set family `name` until the current transaction ends.

    On PostgreSQL a transaction-level advisory lock keyed on the name: it exists before the family has
    any row, which a row lock (`select_for_update`) could not cover, and Django drops the FOR UPDATE of
    an aggregate such as Max("version"). SQLite needs none: this project opens every transaction
    IMMEDIATE (settings), so writers run one at a time already.
    """
    if connection.vendor != "postgresql":
        return
    digest = hashlib.sha256(f"docbgm.stimulus_set_family:{name}".encode()).digest()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [int.from_bytes(digest[:8], "big", signed=True)])


def stimulus_set_create_version(*, name: str, **fields: Any) -> StimulusSet:
    """Save a new StimulusSet as the next version of family `name` (1 for a new family).

    The one way to add a version: stimulus_set_request and generation.importing both call it.

    Concurrency: takes the family's lock (`_lock_family`) and keeps it until the caller's outermost
    transaction commits, so two concurrent requests of one family get versions n and n+1 instead of
    both reading n - 1 and one failing on the (name, version) constraint. Callers that must look
    something up under the same lock (stimulus_set_request's idempotency check) take it first.

    Args:
        name: the family (a slug).
        fields: the other StimulusSet fields (source, status, parameters, ...).
    """
    with transaction.atomic():
        _lock_family(name)
        latest = StimulusSet.objects.filter(name=name).aggregate(v=Max("version"))["v"] or 0
        stimulus_set = StimulusSet(name=name, version=latest + 1, **fields)
        stimulus_set.full_clean()
        stimulus_set.save()
    return stimulus_set


def _queue_build(stimulus_set_id: int) -> None:
    from generation.tasks import stimulus_set_build_task

    transaction.on_commit(lambda: stimulus_set_build_task.delay(stimulus_set_id))


def stimulus_set_request(
    *,
    source: str,
    checkpoint: Checkpoint | None = None,
    items: int = DEFAULT_ITEMS,
    seconds: float = SECONDS,
    seed: int = 0,
    temperature: float = SAMPLING_TEMPERATURE,
    corpus: str | None = None,
    soundfont: str = "",
    target_lufs: float = TARGET_LUFS,
    requested_by=None,
    queue: bool = True,
) -> StimulusSet:
    """Ask for a stimulus set; a new version of its family is queued for a worker to build.

    Idempotent: the same source, checkpoint and parameters give the same set (a `request_key` hash),
    so asking twice makes one set. Asking again for a set that failed queues it once more. The build
    is queued with `transaction.on_commit`, so a worker never looks for a row that is not committed.

    Args:
        source: "generated" (needs `checkpoint`), "real" or "low_anchor".
        queue: False to build in this process instead (the generate_stimuli command).

    Raises:
        ValidationError: an unknown source, a missing checkpoint, parameters out of range.
    """
    if source not in StimulusSet.Source.values or source == StimulusSet.Source.IMPORTED:
        raise ValidationError({"source": f"{source!r}: choose generated, real or low_anchor"})
    if (source == StimulusSet.Source.GENERATED) != (checkpoint is not None):
        raise ValidationError(
            {"checkpoint": "a generated set needs a checkpoint; real and low-anchor sets take none"}
        )
    if not 1 <= items <= 200:
        raise ValidationError({"items": "between 1 and 200 items"})
    if not 2.0 <= seconds <= 120.0:
        raise ValidationError({"seconds": "a clip lasts between 2 and 120 seconds"})
    if not 0.05 <= temperature <= 5.0:
        raise ValidationError({"temperature": "a temperature between 0.05 and 5"})
    if soundfont and not Path(soundfont).is_file():
        raise ValidationError({"soundfont": f"no soundfont at {soundfont}"})
    corpus = corpus or getattr(settings, "GENERATION_STIMULUS_CORPUS", DEFAULT_CORPUS)
    parameters: dict[str, Any] = {
        "items": items,
        "seconds": seconds,
        "seed": seed,
        "corpus": corpus,
        "tempo_bpm": TEMPO_BPM,
        "beats_per_bar": BEATS_PER_BAR,
        "accompaniment": ACCOMPANIMENT,
        "soundfont": soundfont,
        "sample_rate": SAMPLE_RATE,
        "target_lufs": target_lufs,
        "ceiling_dbtp": TRUE_PEAK_CEILING_DBTP,
        # Part of the request key: sets encoded before clips were constant-bitrate are built anew.
        "mp3": f"{MP3_BITRATE_KBPS} kbps CBR",
    }
    if source == StimulusSet.Source.GENERATED:
        from generation.sampling import Sampling

        # Every draw's settings (temperature, nucleus, rest/hold limits) are part of the set's request
        # and of each stimulus's provenance, so a rebuild samples the same way.
        parameters["temperature"] = temperature
        parameters["sampling"] = Sampling.from_dict({"temperature": temperature}).to_dict()
    key = _request_key(source=source, checkpoint=checkpoint, parameters=parameters)
    name = checkpoint.variant.key if checkpoint else SET_NAMES[source]
    with transaction.atomic():
        # The family lock comes first: an identical request that raced in waits here and then finds
        # this one's row, and a different request of the family waits for the next version.
        _lock_family(name)
        existing = StimulusSet.objects.select_for_update().filter(request_key=key).first()
        if existing is not None:
            if existing.status == StimulusSet.Status.FAILED and queue:
                existing.status, existing.error = StimulusSet.Status.PENDING, ""
                existing.save(update_fields=["status", "error"])
                _queue_build(existing.pk)
            return existing
        stimulus_set = stimulus_set_create_version(
            name=name,
            source=source,
            variant=checkpoint.variant if checkpoint else None,
            checkpoint=checkpoint,
            parameters=parameters,
            progress_total=items,
            request_key=key,
            created_by=requested_by,
        )
        if queue:
            _queue_build(stimulus_set.pk)
        return stimulus_set


def _worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _claim_is_live(claimed_by: str, heartbeat_at) -> bool:
    """Whether another worker is still building: a live pid on this host, or a recent heartbeat elsewhere."""
    if not claimed_by or claimed_by == _worker_id():
        return False
    host, _, pid = claimed_by.rpartition(":")
    if host == socket.gethostname():
        try:
            os.kill(int(pid), 0)
        except (ProcessLookupError, ValueError):
            return False
        except PermissionError:
            return True
        return True
    return heartbeat_at is not None and timezone.now() - heartbeat_at < BUILD_LEASE


def _stored_name(stimulus_set: StimulusSet, folder: str, position: int, suffix: str) -> str:
    """The opaque stored name of one file of a set version (generation/storage.py): the same on every
    attempt, so a rebuild replaces what a dead attempt left, and nothing in it names the set or item."""
    return opaque_name(folder, suffix, "stimulus", stimulus_set.pk, folder, position)


def _clear_media(stimulus_set: StimulusSet) -> None:
    """Remove every file of this set version, including those of an attempt that died half-way."""
    for position in range(int(stimulus_set.parameters.get("items", DEFAULT_ITEMS))):
        for folder, suffix in MEDIA_FILES:
            name = _stored_name(stimulus_set, folder, position, suffix)
            if default_storage.exists(name):
                default_storage.delete(name)


def _store(local: Path, name: str) -> str:
    """Save a local file under exactly `name` (replacing a leftover), returning the stored name."""
    if default_storage.exists(name):
        default_storage.delete(name)
    with open(local, "rb") as handle:
        stored = default_storage.save(name, File(handle))
    if stored != name:
        raise RuntimeError(f"storage renamed {name} to {stored}")
    return stored


def _claim(stimulus_set_id: int) -> StimulusSet | None:
    """Take the build: None when it is done already or a live worker is on it."""
    with transaction.atomic():
        stimulus_set = StimulusSet.objects.select_for_update().get(pk=stimulus_set_id)
        if stimulus_set.status in (StimulusSet.Status.READY, StimulusSet.Status.FAILED):
            return None  # done, or failed with its reason: only a new request queues it again
        if stimulus_set.status == StimulusSet.Status.RUNNING and _claim_is_live(
            stimulus_set.claimed_by, stimulus_set.heartbeat_at
        ):
            return None
        stimulus_set.status = StimulusSet.Status.RUNNING
        stimulus_set.claimed_by = _worker_id()
        stimulus_set.heartbeat_at = timezone.now()
        stimulus_set.attempts += 1
        stimulus_set.progress_done = 0
        stimulus_set.progress_total = int(stimulus_set.parameters.get("items", DEFAULT_ITEMS))
        stimulus_set.error = ""
        stimulus_set.full_clean()
        stimulus_set.save()
        # Rows of an earlier attempt cannot exist (they are published at the end, all at once).
        stimulus_set.stimuli.all().delete()
    return stimulus_set


def _report(stimulus_set: StimulusSet, done: int) -> None:
    updated = StimulusSet.objects.filter(
        pk=stimulus_set.pk, claimed_by=stimulus_set.claimed_by, status=StimulusSet.Status.RUNNING
    ).update(progress_done=done, heartbeat_at=timezone.now())
    if not updated:
        raise BuildSuperseded(f"{stimulus_set} was taken over by another worker")


def _melody_maker(stimulus_set: StimulusSet) -> Callable:
    """melody(item, seed) -> (T,) melody tokens for this set's source."""
    source = stimulus_set.source
    if source == StimulusSet.Source.REAL:
        return lambda item, seed: item.melody
    if source == StimulusSet.Source.LOW_ANCHOR:
        return lambda item, seed: shuffle_pitches(item.melody, seed=seed)
    from generation.checkpoints import validate_checkpoint
    from generation.sampling import UNCONSTRAINED, Sampling, sample_melody

    params = stimulus_set.parameters
    if "sampling" in params:
        sampling = Sampling.from_dict(params["sampling"])
    else:  # a set requested before sampling was recorded drew with the temperature alone
        sampling = Sampling(
            **{**UNCONSTRAINED.to_dict(), "temperature": float(params.get("temperature", 1.0))}
        )

    checkpoint = stimulus_set.checkpoint
    path = Path(checkpoint.weights.path)
    if sha256_file(path) != checkpoint.sha256:
        raise RuntimeError(f"the stored weights of {checkpoint} changed since upload (sha256 differs)")
    model = validate_checkpoint(path, checkpoint.config)
    beats = int(params.get("beats_per_bar", BEATS_PER_BAR))
    return lambda item, seed: sample_melody(
        model, item.chords, sampling=sampling, seed=seed, beats_per_bar=beats
    )


def stimulus_set_build(
    *, stimulus_set_id: int, on_progress: Callable[[int, int], None] | None = None
) -> StimulusSet:
    """Build a requested set: K melodies on the held-out progressions, rendered, published at once.

    Safe to run again at any point (Celery redelivers the job of a dead worker, acks_late): a set
    that is READY is left alone, a set a live worker is building is left to it, and anything else is
    built from scratch, after removing the files of an earlier attempt. Files are written first,
    outside any transaction; all Stimulus rows and the READY status are committed in one
    transaction at the end, so a study can never see a half-made set. A failure deletes what was
    written and records its reason on the set (status FAILED).

    Args:
        stimulus_set_id: the set to build.
        on_progress: called with (done, total) after each clip (the command's progress bar).
    """
    from generation.music.corpus import load_corpus
    from generation.music.midi import melody_to_midi

    stimulus_set = _claim(stimulus_set_id)
    if stimulus_set is None:
        return StimulusSet.objects.get(pk=stimulus_set_id)
    params = stimulus_set.parameters
    _clear_media(stimulus_set)
    rows: list[Stimulus] = []
    try:
        tempo = float(params.get("tempo_bpm", TEMPO_BPM))
        beats = int(params.get("beats_per_bar", BEATS_PER_BAR))
        seconds = float(params.get("seconds", SECONDS))
        steps = clip_steps(seconds, tempo_bpm=tempo, beats_per_bar=beats)
        soundfont = params.get("soundfont") or None
        base_seed = int(params.get("seed", 0))
        corpus = load_corpus(params.get("corpus", DEFAULT_CORPUS))
        items = heldout_items(corpus.heldout, count=stimulus_set.progress_total, steps=steps)
        make_melody = _melody_maker(stimulus_set)
        soundfont_path = Path(soundfont) if soundfont else None
        from generation.rendering import default_soundfont

        soundfont_sha = sha256_file(soundfont_path or default_soundfont())
        provenance_common = {
            "source": stimulus_set.source,
            "checkpoint_sha256": stimulus_set.checkpoint.sha256 if stimulus_set.checkpoint else None,
            "variant": stimulus_set.variant.key if stimulus_set.variant else None,
            "parameters": params,
            "corpus": getattr(corpus, "name", params.get("corpus")),
            "encoding_version": getattr(corpus, "encoding_version", None),
            "soundfont": (soundfont_path or default_soundfont()).name,
            "soundfont_sha256": soundfont_sha,
        }
        with tempfile.TemporaryDirectory() as scratch:
            for position, item in enumerate(items):
                seed = base_seed + position
                melody = make_melody(item, seed)
                midi = melody_to_midi(
                    melody, item.chords, tempo_bpm=tempo, beats_per_bar=beats, accompaniment=ACCOMPANIMENT
                )
                clip = render_clip(
                    midi,
                    seconds=seconds,
                    bar_seconds=bar_seconds(tempo, beats),
                    soundfont=soundfont_path,
                    target_lufs=float(params.get("target_lufs", TARGET_LUFS)),
                    ceiling_dbtp=float(params.get("ceiling_dbtp", TRUE_PEAK_CEILING_DBTP)),
                )
                local = Path(scratch) / str(position)
                files = save_clip(
                    clip, mp3_path=local.with_suffix(".mp3"), flac_path=local.with_suffix(".flac")
                )
                midi.write(str(local.with_suffix(".mid")))
                rows.append(
                    Stimulus(
                        stimulus_set=stimulus_set,
                        item_key=item.key,
                        position=position,
                        audio=_store(
                            files.mp3, _stored_name(stimulus_set, "stimuli/audio", position, ".mp3")
                        ),
                        audio_flac=_store(
                            files.flac, _stored_name(stimulus_set, "stimuli/flac", position, ".flac")
                        ),
                        midi=_store(
                            local.with_suffix(".mid"),
                            _stored_name(stimulus_set, "stimuli/midi", position, ".mid"),
                        ),
                        duration_s=clip.duration_s,
                        loudness_lufs=round(clip.loudness_lufs, 3),
                        audio_sha256=files.mp3_sha256,
                        midi_sha256=sha256_file(local.with_suffix(".mid")),
                        seed=seed,
                        progression=item.progression(),
                        provenance={
                            **provenance_common,
                            "title": item.title,
                            "flac_sha256": files.flac_sha256,
                            "true_peak_dbtp": round(clip.true_peak_dbtp, 3),
                            "gain_db": round(clip.gain_db, 3),
                            "melody": [int(t) for t in melody],
                        },
                    )
                )
                _report(stimulus_set, position + 1)
                if on_progress:
                    on_progress(position + 1, len(items))
        _publish(stimulus_set, rows)
    except BuildSuperseded:
        logger.warning("%s: another worker took the build over; stopping", stimulus_set)
        return StimulusSet.objects.get(pk=stimulus_set_id)
    except Exception as error:  # noqa: BLE001 - any failure is recorded on the set, with its reason
        logger.exception("building %s failed", stimulus_set)
        _fail(stimulus_set, f"{type(error).__name__}: {error}")
    return StimulusSet.objects.get(pk=stimulus_set_id)


def _publish(stimulus_set: StimulusSet, rows: list[Stimulus]) -> None:
    with transaction.atomic():
        current = StimulusSet.objects.select_for_update().get(pk=stimulus_set.pk)
        if current.claimed_by != stimulus_set.claimed_by or current.status != StimulusSet.Status.RUNNING:
            raise BuildSuperseded(f"{stimulus_set} was taken over before publishing")
        for row in rows:
            row.full_clean(exclude=["stimulus_set"])
        Stimulus.objects.bulk_create(rows)
        current.status = StimulusSet.Status.READY
        current.progress_done = len(rows)
        current.finished_at = timezone.now()
        current.claimed_by = ""
        current.full_clean()
        current.save()


def _fail(stimulus_set: StimulusSet, reason: str) -> None:
    with transaction.atomic():
        current = StimulusSet.objects.select_for_update().get(pk=stimulus_set.pk)
        if current.claimed_by != stimulus_set.claimed_by:
            return  # another worker owns it now; its files are its own
        current.stimuli.all().delete()
        current.status = StimulusSet.Status.FAILED
        current.error = reason[:2000]
        current.claimed_by = ""
        current.finished_at = timezone.now()
        current.save()
    _clear_media(stimulus_set)


def stimulus_set_recover() -> list[int]:
    """Queue again every set that is pending, or running under a worker that is gone.

    Called when a worker starts (generation.tasks): the filesystem broker forgets the job of a worker
    killed mid-way, and Redis only hands it back after its visibility timeout. A queued set that is
    already in the broker is built once anyway: the second run finds it READY.
    """
    ids = []
    for stimulus_set in StimulusSet.objects.filter(
        status__in=[StimulusSet.Status.PENDING, StimulusSet.Status.RUNNING]
    ):
        if stimulus_set.status == StimulusSet.Status.RUNNING and _claim_is_live(
            stimulus_set.claimed_by, stimulus_set.heartbeat_at
        ):
            continue
        ids.append(stimulus_set.pk)
    from generation.tasks import stimulus_set_build_task

    for stimulus_set_id in ids:
        stimulus_set_build_task.delay(stimulus_set_id)
    return ids
