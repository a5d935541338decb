"""generation/datasets.py: which batches each network is fed, and the split rule its sidecar records."""

import numpy as np
import pytest

from generation import datasets
from generation.music.corpus import SPLIT_RULE, load_corpus
from generation.music.tokens import piece_to_events
from generation.nets.base import VARIANTS, MelodyModel, UnknownVariantError, build_model
from generation.nets.bilstm import event_windows
from generation.separation import stems

pytestmark = pytest.mark.usefixtures("corpus_env")


def take(iterator, count):
    return [next(iterator) for _ in range(count)]


def test_every_registered_network_has_a_pipeline_and_a_split_rule():
    for variant in VARIANTS:
        assert datasets.split_rule_for(variant)
    assert datasets.split_rule_for("proposed") == SPLIT_RULE
    assert datasets.split_rule_for("bilstm") == SPLIT_RULE  # events of the same corpus, split the same
    assert datasets.split_rule_for("separation") == stems.SPLIT_RULE
    assert datasets.split_rule_for("separation").endswith("0-7 train, 8 validation, 9 test")
    assert datasets.PIPELINES["separation"][0] is stems.multitrack_batches
    with pytest.raises(UnknownVariantError, match="known variants"):
        datasets.batches_for("transformer", "chorales:10", split="train", batch_size=2, seed=0, config=None)


@pytest.mark.parametrize("variant", sorted(v for v, cls in VARIANTS.items() if issubclass(cls, MelodyModel)))
def test_melody_models_get_melody_and_chord_windows_except_bilstm(variant):
    config = build_model(variant, "tiny").config
    batch = next(
        datasets.batches_for(variant, "chorales:10", split="train", batch_size=3, seed=0, config=config)
    )
    if variant == "bilstm":
        assert set(batch) == {"tokens"} and batch["tokens"].shape == (3, config.window + 1)
    else:
        assert set(batch) == {"melody", "chords"}
        assert batch["melody"].shape == batch["chords"].shape == (3, getattr(config, "segment_steps", 100))


def test_bilstm_event_batches_are_seeded_endless_for_train_and_one_pass_otherwise(small_corpus):  # noqa: F811
    config = build_model("bilstm", "tiny").config

    def batches(split, seed=0, size=16):
        return datasets.batches_for(
            "bilstm", "chorales:10", split=split, batch_size=size, seed=seed, config=config
        )

    first, again, other = (
        take(batches("train"), 3),
        take(batches("train"), 3),
        take(batches("train", seed=1), 3),
    )
    assert all((a["tokens"] == b["tokens"]).all() for a, b in zip(first, again))
    assert not all((a["tokens"] == b["tokens"]).all() for a, b in zip(first, other))

    expected = event_windows(
        [piece_to_events(p.melody, p.chords) for p in small_corpus.validation], config.window
    )
    passed = np.concatenate([b["tokens"].numpy() for b in batches("validation", size=7)])
    assert (passed == expected).all()  # every window once, in order
    rows = sum(len(b["tokens"]) for b in take(batches("train", size=len(expected)), 3))
    assert rows == 3 * len(expected)  # train keeps going past one epoch


def test_a_split_without_note_events_is_a_clear_error(tmp_path, monkeypatch):
    config = build_model("bilstm", "tiny").config
    assert load_corpus("chorales:10").heldout  # the corpus exists; an empty split is the error
    monkeypatch.setattr(datasets.melody_corpus.Corpus, "split", lambda self, name: [])
    with pytest.raises(ValueError, match="has no note events"):
        datasets.batches_for("bilstm", "chorales:10", split="validation", batch_size=2, seed=0, config=config)
