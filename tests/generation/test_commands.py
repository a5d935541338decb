import io
import json
import pickle

import pretty_midi
import pytest
import torch
from django.core.management import CommandError, call_command

from generation.checkpoints import load_model
from generation.music.encoding import chord_pitches, parse_chord
from generation.music.midi import midi_to_tokens
from generation.recipes import train_config


@pytest.fixture(autouse=True)
def _restore_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.mark.usefixtures("corpus_env")
def test_train_decay_every_reaches_the_training_config_and_the_sidecar(tmp_path):
    stem = tmp_path / "decay"
    args = ["--preset", "tiny", "--corpus", "chorales:10", "--steps", "4", "--threads", "1", "--no-progress"]
    run("train", "proposed", *args, "--out", str(stem), "--decay-every", "2")
    sidecar = json.loads(stem.with_suffix(".json").read_text())
    assert sidecar["training"]["decay_every"] == 2
    assert sidecar["command"].endswith("--decay-every 2")
    run("train", "proposed", *args, "--out", str(tmp_path / "plain"))
    plain = json.loads((tmp_path / "plain.json").read_text())
    assert plain["training"]["decay_every"] == 100 and "--decay-every" not in plain["command"]


@pytest.mark.usefixtures("corpus_env")
def test_train_init_from_reaches_the_sidecar_and_a_wrong_checkpoint_is_refused(tmp_path):
    args = ["--preset", "tiny", "--corpus", "chorales:10", "--steps", "2", "--threads", "1", "--no-progress"]
    run("train", "proposed", *args, "--out", str(tmp_path / "base"))
    run("train", "proposed", *args, "--out", str(tmp_path / "tuned"), "--init-from", str(tmp_path / "base"))
    sidecar = json.loads((tmp_path / "tuned.json").read_text())
    assert sidecar["init_from"]["checkpoint"] == str(tmp_path / "base")
    assert sidecar["command"].endswith(f"--init-from {tmp_path / 'base'}")
    with pytest.raises(CommandError, match="another config"):  # the committed model is the small preset
        run("train", "proposed", *args, "--out", str(tmp_path / "x"), "--init-from", "proposed")
    with pytest.raises(CommandError, match="none.json is missing"):
        run("train", "proposed", *args, "--out", str(tmp_path / "x"), "--init-from", str(tmp_path / "none"))
    assert not (tmp_path / "x.json").exists()


def test_paper_separation_preset_decays_over_its_own_run():
    config = train_config("separation", "paper")
    assert (config.steps, config.batch_size, config.decay_every) == (12000, 32, 600)
    assert train_config("separation", "paper", decay_every=100).decay_every == 100


@pytest.mark.usefixtures("corpus_env")
def test_train_then_compose_end_to_end(tmp_path):
    stem = tmp_path / "ck" / "tiny"
    output = run(
        "train",
        "proposed",
        "--preset",
        "tiny",
        "--corpus",
        "chorales:10",
        "--steps",
        "12",
        "--out",
        str(stem),
        "--checkpoint-steps",
        "6",
        "--threads",
        "1",
        "--no-progress",
    )
    assert "proposed (tiny" in output and "12 steps" in output and "validation loss" in output
    sidecar = json.loads(stem.with_suffix(".json").read_text())
    assert sidecar["command"].startswith(
        "python manage.py train proposed --preset tiny --corpus chorales:10 --steps 12"
    )
    assert sidecar["corpus"] == "chorales:10" and sidecar["preset"] == "tiny" and sidecar["steps"] == 12
    assert sidecar["split"].endswith("0 heldout, 1 validation, else train")
    assert [s for s, _ in sidecar["losses"]["validation"]] == [10, 12]
    assert (tmp_path / "ck" / "tiny-step6.safetensors").exists()
    assert float(output.split("validation loss ")[1].split()[0].rstrip(",")) == pytest.approx(
        sidecar["final_validation_loss"], abs=1e-3
    )

    resumed = run(
        "train",
        "proposed",
        "--preset",
        "tiny",
        "--corpus",
        "chorales:10",
        "--steps",
        "16",
        "--out",
        str(stem),
        "--resume",
        "--threads",
        "1",
        "--no-progress",
    )
    assert (
        "16 steps" in resumed
        and len(json.loads(stem.with_suffix(".json").read_text())["losses"]["train"]) == 16
    )

    cue = tmp_path / "cue"
    text = run(
        "compose",
        "--checkpoint",
        str(stem.with_suffix(".safetensors")),
        "--chords",
        "Dm | Bb | F | C",
        "--seconds",
        "12",
        "--tempo",
        "80",
        "--out",
        str(cue),
        "--accompaniment",
        "arpeggio",
        "--key",
        "D minor",
    )
    assert "4 bars" in text and "first bar Dm Dm Dm Dm" in text
    midi = pretty_midi.PrettyMIDI(str(tmp_path / "cue.mid"))
    assert [i.name for i in midi.instruments] == ["melody", "chords"]
    assert round(midi.get_tempo_changes()[1][0]) == 80
    melody, chords = midi_to_tokens(tmp_path / "cue.mid")
    expected = [parse_chord(c) for c in ("Dm", "Bb", "F", "C") for _ in range(16)]
    assert chords.tolist() == expected


def test_compose_with_the_committed_checkpoint_sits_on_the_chords(tmp_path):
    run(
        "compose",
        "--checkpoint",
        "proposed",
        "--chords",
        "Dm | Bb | F | C",
        "--seconds",
        "45",
        "--tempo",
        "70",
        "--out",
        str(tmp_path / "cue"),
        "--seed",
        "3",
    )
    midi = pretty_midi.PrettyMIDI(str(tmp_path / "cue.mid"))
    # 45 s at 70 bpm: the 13 whole bars that fit.
    assert midi.get_end_time() == pytest.approx(13 * 4 * 60 / 70, abs=0.01)
    notes = midi.instruments[0].notes
    step = 60 / 70 / 4
    chord_at = [parse_chord(c) for c in ("Dm", "Bb", "F", "C")]
    on_chord = sum(
        (n.end - n.start)
        for n in notes
        if n.pitch % 12 in chord_pitches(chord_at[int(n.start / step) // 16 % 4])
    )
    assert on_chord / sum(n.end - n.start for n in notes) > 0.5


@pytest.mark.usefixtures("corpus_env")
def test_command_errors_are_clear(tmp_path):
    with pytest.raises(CommandError, match="unknown variant 'transformer'"):
        run("train", "transformer", "--preset", "tiny")
    with pytest.raises(CommandError, match="no corpus 'missing'"):
        run(
            "train",
            "lstm1",
            "--preset",
            "tiny",
            "--corpus",
            "missing",
            "--out",
            str(tmp_path / "x"),
            "--no-progress",
        )
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(pickle.dumps({"a": 1}))
    bad.with_suffix(".json").write_text(json.dumps(load_model("proposed").sidecar))
    with pytest.raises(CommandError, match="pickle"):
        run("compose", "--checkpoint", str(bad), "--chords", "C", "--out", str(tmp_path / "c"))
    with pytest.raises(CommandError, match="unrecognised chord symbol"):
        run("compose", "--checkpoint", "proposed", "--chords", "C | Q7", "--out", str(tmp_path / "c"))
    assert not (tmp_path / "c.mid").exists()
