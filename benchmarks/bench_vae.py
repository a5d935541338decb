"""Reconstruction and disentanglement of the two VAE control models on held-out 2-bar segments.

    .venv/bin/python -m benchmarks.bench_vae                      # the committed checkpoints
    .venv/bin/python -m benchmarks.bench_vae --ec2vae path/to/ec2vae.safetensors --vded path/to/vded.json

Reconstruction: each held-out segment is encoded to its posterior mean and decoded greedily; the
figure is the fraction of the 32 steps whose 130-class token (pitch, hold or rest) comes back exactly,
over all steps and over the note onsets only.

Disentanglement (EC2-VAE): segments are paired at random (A, B). With A's pitch latent and chords,
decode once with A's rhythm latent and once with B's; then, the other way round, swap the pitch
latents instead. For each swap we report how much the decoded rhythm changes (the fraction of steps
whose onset/hold/rest class differs) and how much the decoded pitch classes change (half the L1
distance between the duration-weighted pitch-class histograms, 0 = same, 1 = disjoint). A
disentangled model changes rhythm, not pitch classes, when the rhythm latent is swapped, and pitch
classes more than rhythm when the pitch latent is swapped.
"""

import argparse
import json
import os
from pathlib import Path

import numpy as np
import torch

from generation.checkpoints import load_model
from generation.music.corpus import load_corpus
from generation.music.encoding import MIDI_PITCHES
from generation.nets.ec2vae import (
    ONSET,
    ROLL_HOLD,
    ROLL_REST,
    SEGMENT_STEPS,
    rhythm_of,
    to_roll,
)


def heldout_segments(corpus: str, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Consecutive 2-bar segments of every piece of the split that hold at least one onset.

    Returns:
        melody (N, 32) 155-vocabulary tokens, chords (N, 32) chord indices.
    """
    melodies, chords = [], []
    for piece in load_corpus(corpus).split(split):
        for start in range(0, len(piece.melody) - SEGMENT_STEPS + 1, SEGMENT_STEPS):
            melody = piece.melody[start : start + SEGMENT_STEPS]
            if (melody < MIDI_PITCHES).any():
                melodies.append(melody)
                chords.append(piece.chords[start : start + SEGMENT_STEPS])
    if not melodies:
        raise SystemExit(f"the {split} split of {corpus!r} has no 2-bar segment with a note")
    return torch.from_numpy(np.stack(melodies)).long(), torch.from_numpy(np.stack(chords)).long()


def pitch_class_histogram(roll: torch.Tensor) -> torch.Tensor:
    """(N, S) 130-class indices -> (N, 12) duration-weighted pitch-class distribution (zeros if silent)."""
    sounding = roll.clone()
    for step in range(1, roll.shape[1]):  # a hold sounds the previous pitch
        held = roll[:, step] == ROLL_HOLD
        sounding[held, step] = sounding[held, step - 1]
    histogram = torch.zeros(roll.shape[0], 12)
    pitched = sounding < MIDI_PITCHES
    rows, steps = pitched.nonzero(as_tuple=True)
    histogram.index_put_((rows, sounding[rows, steps] % 12), torch.ones(len(rows)), accumulate=True)
    total = histogram.sum(1, keepdim=True)
    return torch.where(total > 0, histogram / total.clamp(min=1), histogram)


def pitch_class_change(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean total-variation distance between the pitch-class histograms of two (N, S) rolls."""
    return float(0.5 * (pitch_class_histogram(a) - pitch_class_histogram(b)).abs().sum(1).mean())


def rhythm_change(a: torch.Tensor, b: torch.Tensor) -> float:
    """Fraction of steps whose onset/hold/rest class differs between two (N, S) rolls."""
    return float((rhythm_of(a) != rhythm_of(b)).float().mean())


def reconstruction(model, melody: torch.Tensor, chords: torch.Tensor) -> dict[str, float]:
    roll = to_roll(melody)
    chroma = model.chroma[chords]
    mu, _ = model.encode(roll, chroma)
    if model.variant == "ec2vae":
        z_pitch, z_rhythm = model.split(mu)
        decoded, rhythm = model.reconstruct(z_pitch, z_rhythm, chroma)
    else:
        decoded, rhythm = model.reconstruct(mu, chroma), None
    onsets = rhythm_of(roll) == ONSET
    figures = {
        "segments": int(roll.shape[0]),
        "step_accuracy": float((decoded == roll).float().mean()),
        "onset_pitch_accuracy": float((decoded == roll)[onsets].float().mean()),
        "rest_share_decoded": float((decoded == ROLL_REST).float().mean()),
    }
    if rhythm is not None:
        figures["rhythm_decoder_accuracy"] = float((rhythm == rhythm_of(roll)).float().mean())
    return figures


def disentanglement(
    model, melody: torch.Tensor, chords: torch.Tensor, seed: int
) -> dict[str, dict[str, float]]:
    roll = to_roll(melody)
    chroma = model.chroma[chords]
    mu, _ = model.encode(roll, chroma)
    z_pitch, z_rhythm = model.split(mu)
    partner = torch.from_numpy(np.random.default_rng(seed).permutation(len(roll)))
    base, _ = model.reconstruct(z_pitch, z_rhythm, chroma)
    rhythm_swapped, _ = model.reconstruct(z_pitch, z_rhythm[partner], chroma)
    pitch_swapped, _ = model.reconstruct(z_pitch[partner], z_rhythm, chroma)
    partner_decoded = base[partner]
    return {
        "swap_rhythm_latent": {
            "rhythm_change": rhythm_change(rhythm_swapped, base),
            "pitch_class_change": pitch_class_change(rhythm_swapped, base),
            "rhythm_match_to_partner": float(
                (rhythm_of(rhythm_swapped) == rhythm_of(partner_decoded)).float().mean()
            ),
        },
        "swap_pitch_latent": {
            "rhythm_change": rhythm_change(pitch_swapped, base),
            "pitch_class_change": pitch_class_change(pitch_swapped, base),
        },
        "between_partners": {  # how different the paired segments' decodings are to begin with
            "rhythm_change": rhythm_change(partner_decoded, base),
            "pitch_class_change": pitch_class_change(partner_decoded, base),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ec2vae", default="ec2vae", help="checkpoint path or variant key (committed one)")
    parser.add_argument("--vded", default="vded", help="checkpoint path or variant key (committed one)")
    parser.add_argument("--corpus", default="chorales")
    parser.add_argument("--split", default="heldout", choices=["train", "validation", "heldout"])
    parser.add_argument("--seed", type=int, default=0, help="pairs the segments for the latent swaps")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    melody, chords = heldout_segments(args.corpus, args.split)
    results: dict[str, object] = {"corpus": args.corpus, "split": args.split}
    with torch.no_grad():
        for variant, spec in (("ec2vae", args.ec2vae), ("vded", args.vded)):
            model = load_model(spec).eval()
            figures: dict[str, object] = {
                "checkpoint": str(spec),
                "reconstruction": reconstruction(model, melody, chords),
            }
            if variant == "ec2vae":
                figures["disentanglement"] = disentanglement(model, melody, chords, args.seed)
            results[variant] = figures
    print(json.dumps(results, indent=1))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
