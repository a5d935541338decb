"""generation/importing.py and `manage.py import_stimuli`: folders of audio become stimulus sets."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from django.core.management import CommandError, call_command

from generation.audio import read_audio
from generation.importing import StimulusImportError, import_stimuli
from generation.models import Stimulus, StimulusSet

pytestmark = pytest.mark.django_db
RATE = 22050


def tone(seconds: float, frequency: float = 330.0, amplitude: float = 0.1) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def write(path: Path, seconds: float = 1.0, fmt: str | None = None, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), tone(seconds, **kwargs), RATE, format=fmt)
    return path


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
    assert real["item2"].duration_s == pytest.approx(2.0, abs=0.06)
    # The louder tone (amplitude 0.4 vs 0.1) measures about 12 dB louder (20*log10(4)).
    assert real["item2"].loudness_lufs - real["item1"].loudness_lufs == pytest.approx(12.0, abs=0.7)
    for stimulus in Stimulus.objects.all():
        data = Path(stimulus.audio.path).read_bytes()
        assert stimulus.audio.name.endswith(".mp3") and not data.startswith(b"ID3")  # no tags
        assert "proposed" not in stimulus.audio.name and "real" not in stimulus.audio.name.lower()
        samples, rate = read_audio(stimulus.audio.path)
        assert abs(samples.shape[0] / rate - stimulus.duration_s) < 0.1
        assert stimulus.audio_flac.name.endswith(".flac")
    assert len(media_files(settings)) == 8

    again = import_stimuli(folder, prefix="pilot-")
    assert [s.version for s in again] == [2, 2]


def test_unreadable_files_are_named_and_nothing_is_imported(folder, settings):
    (folder / "proposed" / "broken.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    write(folder / "Real Music" / "short.wav", 0.1)  # too short for a loudness figure
    with pytest.raises(StimulusImportError) as caught:
        import_stimuli(folder)
    message = str(caught.value)
    assert "proposed/broken.wav" in message and "Real Music/short.wav" in message
    assert StimulusSet.objects.count() == 0 and media_files(settings) == []


def test_a_failure_while_writing_removes_the_files_already_written(folder, settings, monkeypatch):
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
    assert media_files(settings) == []


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
