"""generation/importing.py and `manage.py import_stimuli`: folders of audio become stimulus sets."""

import io
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from django.core.management import CommandError, call_command

from generation.audio import integrated_loudness, read_audio, sha256_file
from generation.importing import StimulusImportError, import_stimuli
from generation.models import Stimulus, StimulusSet
from studies import services
from studies.models import Participant
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
RATE = 22050


def tone(
    seconds: float, frequency: float = 330.0, amplitude: float = 0.1, rate: int = RATE, channels: int = 1
) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    mono = (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)
    return mono if channels == 1 else np.repeat(mono[:, None], channels, axis=1)


def write(
    path: Path, seconds: float = 1.0, fmt: str | None = None, rate: int = RATE, subtype=None, **kwargs
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), tone(seconds, rate=rate, **kwargs), rate, format=fmt, subtype=subtype)
    return path


@pytest.fixture(autouse=True)
def scratch(tmp_path, monkeypatch) -> Path:
    """The system temporary folder, so a test can see that the import leaves nothing in it."""
    folder = tmp_path / "system-tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture
def folder(tmp_path) -> Path:
    root = tmp_path / "audio"
    write(root / "proposed" / "item1.wav", 1.0)
    write(root / "proposed" / "item2.flac", 1.5, fmt="FLAC")
    write(root / "Real Music" / "item1.ogg", 1.0, fmt="OGG")
    write(root / "Real Music" / "item2.mp3", 2.0, fmt="MP3", amplitude=0.4)
    (root / "proposed" / "notes.txt").write_text("not audio: ignored")
    return root


def media_files(settings) -> list[Path]:
    return sorted(p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file())


def test_import_creates_one_ready_set_per_folder_with_measured_clips(folder, settings):
    sets = sorted(import_stimuli(folder, prefix="pilot-"), key=lambda s: s.name)
    assert [(s.name, s.version, s.source, s.status) for s in sets] == [
        ("pilot-proposed", 1, "imported", "ready"),
        ("pilot-real-music", 1, "imported", "ready"),
    ]
    real = {s.item_key: s for s in sets[1].stimuli.all()}
    assert sorted(real) == ["item1", "item2"]
    # item2 lasts 2 s in real music and 1.5 s in proposed: both clips are cut to 1.5 s, so that
    # they are files of one size; item1 is 1 s in both and kept whole.
    assert real["item2"].duration_s == pytest.approx(1.5, abs=1e-9)
    assert real["item2"].provenance["cut_to_s"] == 1.5 and "cut_to_s" not in real["item1"].provenance
    # The louder tone (amplitude 0.4 vs 0.1) measures about 12 dB louder (20*log10(4)), a little
    # less for the fade-out over its last 0.5 s.
    assert real["item2"].loudness_lufs - real["item1"].loudness_lufs == pytest.approx(11.5, abs=0.5)
    for stimulus in Stimulus.objects.all():
        data = Path(stimulus.audio.path).read_bytes()
        assert stimulus.audio.name.endswith(".mp3") and not data.startswith(b"ID3")  # no tags
        assert "proposed" not in stimulus.audio.name and "real" not in stimulus.audio.name.lower()
        assert stimulus.item_key not in stimulus.audio.name
        # Every clip, whatever its original, is one browser format: 44.1 kHz stereo MP3.
        info = sf.info(stimulus.audio.path)
        assert (info.format, info.samplerate, info.channels) == ("MP3", 44100, 2)
        # Duration, loudness and sha256 describe the MP3 volunteers hear (encoded gaplessly).
        samples, rate = read_audio(stimulus.audio.path)
        assert samples.shape[0] / rate == pytest.approx(stimulus.duration_s, abs=1e-9)
        assert stimulus.loudness_lufs == pytest.approx(integrated_loudness(samples, rate), abs=0.001)
        assert stimulus.audio_sha256 == sha256_file(stimulus.audio.path)
        flac = sf.info(stimulus.audio_flac.path)
        assert (flac.format, flac.subtype, flac.samplerate, flac.channels) == ("FLAC", "PCM_24", 44100, 2)
        assert stimulus.provenance["flac_sha256"] == sha256_file(stimulus.audio_flac.path)
    assert len(media_files(settings)) == 8
    # The original's name and format are kept for researchers, in provenance only.
    assert real["item2"].provenance["imported_file"] == "Real Music/item2.mp3"
    assert real["item2"].provenance["original_format"] == "mp3"
    assert real["item1"].provenance["original_format"] == "ogg"
    assert real["item1"].provenance["original_sample_rate"] == RATE
    assert real["item1"].provenance["original_sha256"] == sha256_file(folder / "Real Music" / "item1.ogg")
    assert real["item2"].provenance["original_duration_s"] == pytest.approx(2.0, abs=1e-3)
    assert real["item1"].duration_s == pytest.approx(
        real["item1"].provenance["original_duration_s"], abs=1e-3
    )

    again = import_stimuli(folder, prefix="pilot-")
    assert [s.version for s in again] == [2, 2]


def test_unreadable_files_are_named_and_nothing_is_imported(folder, settings, scratch):
    (folder / "proposed" / "broken.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    write(folder / "Real Music" / "short.wav", 0.1)  # too short for a loudness figure
    with pytest.raises(StimulusImportError) as caught:
        import_stimuli(folder)
    message = str(caught.value)
    assert "proposed/broken.wav" in message and "Real Music/short.wav" in message
    assert StimulusSet.objects.count() == 0 and media_files(settings) == []
    assert list(scratch.iterdir()) == []  # the converted copies went with the scratch folder


def test_a_failure_while_writing_removes_the_files_already_written(folder, settings, monkeypatch, scratch):
    from generation import importing

    calls = {"n": 0}
    real_create = importing._create_set

    def fail_on_second_set(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk full")
        return real_create(*args, **kwargs)

    monkeypatch.setattr(importing, "_create_set", fail_on_second_set)
    with pytest.raises(RuntimeError, match="disk full"):
        import_stimuli(folder)
    assert StimulusSet.objects.count() == 0 and Stimulus.objects.count() == 0
    assert media_files(settings) == [] and list(scratch.iterdir()) == []


def test_more_than_two_channels_is_refused_by_name(folder, settings):
    write(folder / "proposed" / "item3.wav", 1.0, channels=6)
    with pytest.raises(StimulusImportError, match=r"proposed/item3.wav: 6 channels; only mono or stereo"):
        import_stimuli(folder)
    assert StimulusSet.objects.count() == 0 and media_files(settings) == []


def test_conditions_imported_in_different_formats_reach_volunteers_in_one_format(tmp_path, client):
    """Blinding: WAV for real music and MP3/OGG/FLAC for the models must not tell a volunteer which is which."""
    root = tmp_path / "audio"
    originals = {  # condition: (suffix, libsndfile format, subtype, sample rate, channels)
        "real": (".wav", "WAV", "PCM_16", 48000, 1),
        "proposed": (".mp3", "MP3", None, 22050, 2),
        "bilstm": (".ogg", "OGG", None, 32000, 1),
        "ec2vae": (".flac", "FLAC", "PCM_24", 96000, 2),
        "vded": (".wav", "WAV", "FLOAT", 44100, 2),
    }
    for condition, (suffix, fmt, subtype, rate, channels) in originals.items():
        for item in ("item1", "item2"):
            write(root / condition / f"{item}{suffix}", 1.0, fmt, rate, subtype, channels=channels)
    sets = import_stimuli(root)
    roles = {"real": "reference"}
    study = services.study_create(
        slug="mixed",
        title="Mixed formats",
        owner=UserFactory(researcher=True),
        conditions=[(s.name, s, roles.get(s.name, "system")) for s in sets],
        groups=2,
        clips_per_group=5,
        consent_text="I agree.",
        translations={"zh-hans": {"consent_text": "我同意。"}},
    )
    services.study_open(study=study)
    client.post(f"/s/{study.slug}/", {"consent": "on", "consent_version": study.consent_version})
    participant = Participant.objects.get(study=study)

    served = {}  # condition: (Content-Type, first MP3 frame header, rate, channels, seconds)
    for trial in participant.trials.filter(is_practice=False).select_related("condition"):
        response = client.get(f"/s/{study.slug}/clip/{trial.public_id}/")
        body = b"".join(response.streaming_content)
        info = sf.info(io.BytesIO(body))
        served.setdefault(trial.condition.name, set()).add(
            (response["Content-Type"], body[:4], info.samplerate, info.channels, round(info.duration, 3))
        )
    assert sorted(served) == sorted(originals)
    # Every condition looks exactly alike on the wire: type, MPEG header (version, layer, rate,
    # channel mode), sample rate, channels and duration.
    assert set.union(*served.values()) == {("audio/mpeg", served["real"].copy().pop()[1], 44100, 2, 1.0)}


@pytest.mark.parametrize("layout", ["empty", "no-audio", "duplicate"])
def test_bad_layouts_are_refused(tmp_path, layout):
    root = tmp_path / "audio"
    root.mkdir()
    if layout == "no-audio":
        (root / "cond").mkdir()
        (root / "cond" / "readme.txt").write_text("x")
    if layout == "duplicate":
        write(root / "cond" / "item1.wav")
        write(root / "cond" / "item1.flac", fmt="FLAC")
    with pytest.raises(
        StimulusImportError,
        match={"empty": "no sub-folders", "no-audio": "no audio", "duplicate": "several files"}[layout],
    ):
        import_stimuli(root)


def test_command_reports_sets_and_errors(folder, capsys):
    call_command("import_stimuli", str(folder))
    out = capsys.readouterr().out
    assert "proposed v1" in out and "real-music v1" in out and "Imported 2 stimulus set(s)." in out
    (folder / "proposed" / "bad.mp3").write_bytes(b"\x00" * 100)
    with pytest.raises(CommandError, match="proposed/bad.mp3"):
        call_command("import_stimuli", str(folder))
    assert StimulusSet.objects.count() == 2
