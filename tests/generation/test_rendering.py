"""generation/rendering.py: FluidSynth rendering and the clip pipeline, with the real library."""

import math
import sys

import numpy as np
import pretty_midi
import pytest
import soundfile as sf

from generation.audio import integrated_loudness, read_audio
from generation.rendering import (
    SAMPLE_RATE,
    RenderingError,
    cut_on_bar,
    default_soundfont,
    normalize_loudness,
    render_clip,
    render_midi,
    save_clip,
    true_peak_dbtp,
)


def little_piece(*, tempo: float = 120.0, bars: int = 2, velocity: int = 90) -> pretty_midi.PrettyMIDI:
    """A scale over block chords: `bars` bars of 4/4."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    beat = 60.0 / tempo
    melody = pretty_midi.Instrument(program=0)
    chords = pretty_midi.Instrument(program=48)
    for i in range(bars * 4):
        pitch = [60, 62, 64, 65, 67, 69, 71, 72][i % 8]
        melody.notes.append(
            pretty_midi.Note(velocity=velocity, pitch=pitch, start=i * beat, end=(i + 0.9) * beat)
        )
    for b in range(bars):
        for pitch in (48, 52, 55):
            chords.notes.append(
                pretty_midi.Note(velocity=70, pitch=pitch, start=b * 4 * beat, end=(b + 1) * 4 * beat)
            )
    pm.instruments = [melody, chords]
    return pm


def test_default_soundfont_is_pretty_midis_timgm6mb():
    path = default_soundfont()
    assert path.name == "TimGM6mb.sf2"
    assert path.is_file()


def test_render_midi_is_stereo_44k_with_the_piece_and_a_tail(tmp_path):
    audio = render_midi(little_piece(bars=2))
    assert audio.dtype == np.float32
    assert audio.shape[1] == 2
    # 2 bars at 120 bpm = 4 s, plus 1 s of ring-out.
    assert audio.shape[0] == pytest.approx(5.0 * SAMPLE_RATE, abs=0.01 * SAMPLE_RATE)
    first_second = np.abs(audio[:SAMPLE_RATE]).max()
    assert first_second > 0.05  # notes sound
    assert np.abs(audio[-SAMPLE_RATE // 10 :]).max() < first_second / 10  # and die away


def test_render_midi_is_deterministic_for_objects_and_files(tmp_path):
    pm = little_piece()
    path = tmp_path / "piece.mid"
    pm.write(str(path))
    first = render_midi(pm)
    assert np.array_equal(first, render_midi(pm))
    assert np.array_equal(first, render_midi(path))
    # A different melody gives different samples (the comparison above can fail).
    assert not np.array_equal(first, render_midi(little_piece(velocity=60)))


def test_render_midi_honours_the_sample_rate():
    audio = render_midi(little_piece(bars=1), sample_rate=22050)
    assert audio.shape[0] == pytest.approx(3.0 * 22050, abs=0.01 * 22050)


def test_a_missing_soundfont_names_the_path(tmp_path):
    with pytest.raises(RenderingError, match=r"soundfont not found: .*nowhere\.sf2"):
        render_midi(little_piece(), soundfont=tmp_path / "nowhere.sf2")
    text = tmp_path / "font.txt"
    text.write_text("no")
    with pytest.raises(RenderingError, match="not a soundfont"):
        render_midi(little_piece(), soundfont=text)


def test_a_missing_libfluidsynth_says_what_to_install(monkeypatch):
    # pyfluidsynth locates the library with ctypes.util.find_library at import time; make that
    # lookup come back empty, as on a machine without libfluidsynth3, and import it afresh.
    import ctypes.util

    monkeypatch.delitem(sys.modules, "fluidsynth", raising=False)
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    with pytest.raises(RenderingError, match=r"apt-get install libfluidsynth3"):
        render_midi(little_piece())


def test_cut_on_bar_ends_on_a_bar_line_with_fades():
    audio = np.ones((10 * SAMPLE_RATE, 2), dtype=np.float32)
    # 7 s requested, bars of 2 s: the clip is 3 bars = 6 s.
    clip = cut_on_bar(audio, SAMPLE_RATE, seconds=7.0, bar_seconds=2.0)
    assert clip.shape == (6 * SAMPLE_RATE, 2)
    assert clip[0, 0] == 0.0 and clip[-1, 0] == 0.0
    assert clip[3 * SAMPLE_RATE, 0] == 1.0
    # Too short audio is padded with silence to the same bar-aligned length.
    padded = cut_on_bar(audio[:SAMPLE_RATE], SAMPLE_RATE, seconds=4.0, bar_seconds=2.0)
    assert padded.shape == (4 * SAMPLE_RATE, 2)
    assert not np.any(padded[2 * SAMPLE_RATE :])


def test_normalize_loudness_hits_the_target_under_the_ceiling():
    audio = render_midi(little_piece())
    for target in (-23.0, -16.0):
        clip = normalize_loudness(audio, SAMPLE_RATE, target_lufs=target)
        assert clip.loudness_lufs == pytest.approx(target, abs=0.05)
        assert clip.true_peak_dbtp <= -1.0 + 1e-6
    # A click train has a huge crest factor: the ceiling wins and the clip stays below target.
    clicks = np.zeros((2 * SAMPLE_RATE, 2), dtype=np.float32)
    clicks[:: SAMPLE_RATE // 4] = 0.5
    clip = normalize_loudness(clicks, SAMPLE_RATE, target_lufs=-10.0, ceiling_dbtp=-1.0)
    assert clip.true_peak_dbtp == pytest.approx(-1.0, abs=0.01)
    assert clip.loudness_lufs < -10.5
    with pytest.raises(RenderingError, match="silent"):
        normalize_loudness(np.zeros((SAMPLE_RATE, 2), dtype=np.float32), SAMPLE_RATE)


def test_true_peak_sees_inter_sample_peaks():
    # A sine at fs/4 sampled 45 degrees off its crest: samples reach 0.707, the wave reaches 1.0.
    n = np.arange(4000)
    wave = np.sin(2 * np.pi * n / 4 + np.pi / 4).astype(np.float32)[:, None]
    assert 20 * math.log10(np.abs(wave).max()) == pytest.approx(-3.01, abs=0.05)
    assert true_peak_dbtp(wave, SAMPLE_RATE) == pytest.approx(0.0, abs=0.3)


def test_clips_of_different_pieces_match_in_length_and_loudness(tmp_path):
    quiet = render_clip(little_piece(velocity=40, bars=3), seconds=5.0, bar_seconds=2.0)
    loud = render_clip(little_piece(velocity=120, bars=3), seconds=5.0, bar_seconds=2.0)
    assert quiet.samples.shape == loud.samples.shape == (4 * SAMPLE_RATE, 2)
    assert abs(quiet.loudness_lufs - loud.loudness_lufs) < 0.1


def test_save_clip_writes_untagged_mp3_and_flac_with_hashes(tmp_path):
    clip = render_clip(little_piece(), seconds=4.0, bar_seconds=2.0)
    files = save_clip(clip, mp3_path=tmp_path / "c.mp3", flac_path=tmp_path / "c.flac")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.flac", "c.mp3"]  # no partial files left
    # Published files are readable by a web server in front of the app (not the temp file's 0600).
    assert {p.stat().st_mode & 0o777 for p in (files.mp3, files.flac)} == {0o644}
    mp3 = files.mp3.read_bytes()
    assert not mp3.startswith(b"ID3") and mp3[-128:-125] != b"TAG"  # no ID3v2 / ID3v1
    for path in (files.mp3, files.flac):
        with sf.SoundFile(path) as handle:
            assert handle.copy_metadata() == {}  # no title, artist, comment, date...
            assert handle.samplerate == SAMPLE_RATE
    flac, _ = read_audio(files.flac)
    assert flac.shape == clip.samples.shape
    assert np.max(np.abs(flac - clip.samples)) < 1e-5
    assert integrated_loudness(flac, SAMPLE_RATE) == pytest.approx(-23.0, abs=0.05)
    decoded, _ = read_audio(files.mp3)
    assert integrated_loudness(decoded, SAMPLE_RATE) == pytest.approx(-23.0, abs=0.3)
    # The same clip written again gives byte-identical files.
    again = save_clip(clip, mp3_path=tmp_path / "d.mp3", flac_path=tmp_path / "d.flac")
    assert (again.mp3_sha256, again.flac_sha256) == (files.mp3_sha256, files.flac_sha256)
