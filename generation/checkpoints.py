"""The one checkpoint format: safetensors weights plus a JSON sidecar that rebuilds the network.

    <stem>.safetensors   the state dict (no pickle: loading never runs code)
    <stem>.json          {"format": "docbgm-checkpoint", "variant", "config", "encoding_version",
                          "weights_sha256", "code_version", "created_at", + what the trainer adds:
                          corpus, split, seed, steps, losses, command, ...}
    <stem>.state.safetensors + <stem>.state.json   optimizer and RNG state, only to resume training

`load_model(path)` refuses anything else with a `CheckpointError` that says why: a pickle or
torch.save file, a truncated or corrupt file, a sidecar that is missing or not ours, an unknown
variant, another encoding version, weights that are not the sidecar's, or shapes that do not match.
"""

from __future__ import annotations

import hashlib
import json
import struct
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from generation.music.encoding import ENCODING_VERSION
from generation.nets.base import TrainableModel, UnknownVariantError, get_variant
from generation.paths import PRETRAINED_DIR, REPO_ROOT

FORMAT = "docbgm-checkpoint"
FORMAT_VERSION = 1
# The largest network a sidecar may describe. The paper-size presets reach 83 M parameters
# (ec2vae); 200 M float32 parameters are 800 MB of weights. A sidecar asking for more (an upload
# with hidden = 10^9) is refused before anything is allocated: the size is counted on the meta device.
MAX_PARAMETERS = 200_000_000


class CheckpointError(Exception):
    """A checkpoint that cannot be used; the message says why and what to do."""


def checkpoint_paths(path: str | Path) -> tuple[Path, Path]:
    """(weights, sidecar) for either file of the pair or the stem without a suffix."""
    path = Path(path)
    stem = path.with_suffix("") if path.suffix in {".safetensors", ".json"} else path
    return stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")


def resolve_checkpoint(spec: str | Path) -> Path:
    """A path, or a variant key meaning the committed checkpoint generation/pretrained/<variant>."""
    if isinstance(spec, str) and "/" not in spec and not spec.endswith((".safetensors", ".json")):
        weights, _ = checkpoint_paths(PRETRAINED_DIR / spec)
        if weights.exists():
            return weights
        if not Path(spec).exists():
            committed = sorted(p.stem for p in PRETRAINED_DIR.glob("*.safetensors"))
            raise CheckpointError(
                f"no committed checkpoint for {spec!r} in {PRETRAINED_DIR}; committed: {committed or 'none'}. "
                "Give a checkpoint path or train one with `python manage.py train`."
            )
    return checkpoint_paths(spec)[0]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def code_version() -> str:
    """The git commit of the code that made a checkpoint (with '+dirty'), or 'unknown'."""
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def save_checkpoint(model: TrainableModel, path: str | Path, *, extra: dict[str, Any] | None = None) -> Path:
    """Write `<stem>.safetensors` and `<stem>.json`; returns the weights path.

    `extra` (corpus, split, seed, steps, losses, command, ...) goes into the sidecar as is.
    """
    state = {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}
    sidecar = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "variant": model.variant,
        "config": model.config.to_dict(),
        "encoding_version": ENCODING_VERSION,
        "weights_sha256": None,  # filled in by _write_pair
        "parameters": sum(t.numel() for t in model.parameters()),
        "code_version": code_version(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **(extra or {}),
    }
    return _write_pair(path, state, sidecar)


def _write_pair(path: str | Path, state: dict[str, torch.Tensor], sidecar: dict[str, Any]) -> Path:
    """Write the tensors and the sidecar (with the written file's sha256); returns the weights path."""
    weights, sidecar_path = checkpoint_paths(path)
    weights.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(weights), metadata={"format": FORMAT, "variant": sidecar["variant"]})
    sidecar["weights_sha256"] = sha256_file(weights)
    sidecar_path.write_text(json.dumps(sidecar, indent=1) + "\n")
    return weights


def store_half(source: str | Path, target: str | Path) -> Path:
    """Copy a checkpoint with its floating-point weights in float16 (half the bytes), e.g. to commit one.

    The sidecar is the source's, with the new file's sha256 and a "weights_dtype" note; `load_model`
    reads the weights back as the model's float32. Returns the new weights path.
    """
    source_weights, _ = checkpoint_paths(source)
    sidecar = read_sidecar(source)
    state = {
        name: tensor.half() if tensor.is_floating_point() else tensor
        for name, tensor in _read_weights(source_weights).items()
    }
    sidecar["weights_dtype"] = "float16: trained in float32, stored in half precision, loaded as float32"
    return _write_pair(target, state, sidecar)


def read_sidecar(path: str | Path) -> dict[str, Any]:
    """The sidecar of a checkpoint (either file of the pair), checked to be ours."""
    _, sidecar_path = checkpoint_paths(path)
    if not sidecar_path.exists():
        raise CheckpointError(
            f"{sidecar_path.name} is missing: a checkpoint is a .safetensors file with its .json sidecar"
        )
    try:
        sidecar = json.loads(sidecar_path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{sidecar_path.name} is not valid JSON ({exc})") from None
    if not isinstance(sidecar, dict) or sidecar.get("format") != FORMAT:
        raise CheckpointError(
            f"{sidecar_path.name} is not a docbgm checkpoint sidecar (no format {FORMAT!r})"
        )
    return sidecar


def _read_weights(weights: Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file; pickles, torch.save files and truncated files are refused."""
    if not weights.exists():
        raise CheckpointError(f"{weights.name} is missing")
    size = weights.stat().st_size
    with open(weights, "rb") as handle:
        head = handle.read(9)
        header_len = struct.unpack("<Q", head[:8])[0] if len(head) >= 8 else 0
        # A safetensors file is an 8-byte little-endian header length, then a JSON header: judge by that
        # shape first, since a header length can begin with any byte (0x80 included).
        looks_like_safetensors = len(head) == 9 and head[8:9] == b"{"
        if not looks_like_safetensors and (head[:1] == b"\x80" or head[:2] in {b"(d", b"}q"}):
            raise CheckpointError(
                f"{weights.name} is a Python pickle, which can run code when loaded: only safetensors files are accepted"
            )
        if head[:4] == b"PK\x03\x04":
            raise CheckpointError(
                f"{weights.name} is a torch.save (zip/pickle) file: only safetensors files are accepted; "
                "convert it with safetensors.torch.save_file(model.state_dict(), ...)"
            )
        if len(head) < 9:
            raise CheckpointError(f"{weights.name} is truncated or empty ({size} bytes)")
        if not looks_like_safetensors:
            raise CheckpointError(f"{weights.name} is not a safetensors file (no JSON header)")
        if header_len > size - 8:
            raise CheckpointError(
                f"{weights.name} is truncated or not a safetensors file (header larger than the file)"
            )
        handle.seek(8)
        header_bytes = handle.read(header_len)
    try:
        header = json.loads(header_bytes)
        end = max(
            (info["data_offsets"][1] for key, info in header.items() if key != "__metadata__"), default=0
        )
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, AttributeError):
        raise CheckpointError(f"{weights.name} is not a safetensors file (unreadable header)") from None
    if 8 + header_len + end > size:
        raise CheckpointError(
            f"{weights.name} is truncated: {size} bytes, the header promises {8 + header_len + end}"
        )
    try:
        return load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{weights.name} is corrupt: {exc}") from None


def parameter_count(cls: type[TrainableModel], config) -> int:
    """The number of parameters `cls(config)` has, counted on the meta device (no memory is used).

    Raises:
        CheckpointError: the config does not build (a negative size, say); one so large that torch
            cannot even describe its tensors counts as too large.
    """
    try:
        with torch.device("meta"):
            model = cls(config)
    except (TypeError, ValueError, RuntimeError, OverflowError) as exc:
        if "overflow" in str(exc).lower():
            raise CheckpointError(
                f"the sidecar describes a {cls.variant} network too large to count; "
                f"at most {MAX_PARAMETERS:,} parameters are accepted"
            ) from None
        raise CheckpointError(f"the sidecar's config does not build a {cls.variant} network: {exc}") from None
    return sum(parameter.numel() for parameter in model.parameters())


def validate_checkpoint(weights_path: str | Path, sidecar: dict[str, Any]) -> TrainableModel:
    """Rebuild the network the sidecar describes and load the weights into it, or raise CheckpointError.

    Used for uploads (the sidecar arrives as a dict) and by `load_model`. Returns the model in eval mode
    with `model.sidecar` set. A network of more than `MAX_PARAMETERS` is refused before it is built.
    """
    weights_path = Path(weights_path)
    if not isinstance(sidecar, dict) or sidecar.get("format") != FORMAT:
        raise CheckpointError(f"the sidecar is not a docbgm checkpoint sidecar (no format {FORMAT!r})")
    try:
        cls = get_variant(str(sidecar.get("variant")))
    except UnknownVariantError as exc:
        raise CheckpointError(str(exc)) from None
    version = sidecar.get("encoding_version")
    if version != ENCODING_VERSION:
        raise CheckpointError(
            f"the checkpoint was made with encoding version {version}, this code uses {ENCODING_VERSION}: retrain it"
        )
    try:
        config = cls.Config.from_dict(dict(sidecar.get("config") or {}))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"the sidecar's config does not build a {cls.variant} network: {exc}") from None
    size = parameter_count(cls, config)
    if size > MAX_PARAMETERS:
        raise CheckpointError(
            f"the sidecar describes a {cls.variant} network of {size:,} parameters; "
            f"at most {MAX_PARAMETERS:,} parameters are accepted (generation/checkpoints.py MAX_PARAMETERS)"
        )
    try:
        model = cls(config)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"the sidecar's config does not build a {cls.variant} network: {exc}") from None
    state = _read_weights(weights_path)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [
        f"{name}: file {tuple(state[name].shape)}, config {tuple(tensor.shape)}"
        for name, tensor in expected.items()
        if name in state and state[name].shape != tensor.shape
    ]
    if missing or unexpected or wrong:
        problems = []
        if wrong:
            problems.append("shapes do not match (" + "; ".join(wrong[:5]) + ")")
        if missing:
            problems.append(f"missing tensors {missing[:5]}")
        if unexpected:
            problems.append(f"unexpected tensors {unexpected[:5]}")
        raise CheckpointError(
            f"the weights do not fit the {cls.variant} network in the sidecar: " + ", ".join(problems)
        )
    model.load_state_dict(state)
    model.eval()
    model.sidecar = sidecar
    return model


def load_model(path: str | Path, *, device: str | torch.device = "cpu") -> TrainableModel:
    """Rebuild a network from its sidecar and load its weights (path = either file of the pair, the
    stem, or a variant key for the committed checkpoint). Returns it in eval mode, `model.sidecar` set."""
    weights, _ = checkpoint_paths(resolve_checkpoint(path) if isinstance(path, str) else path)
    sidecar = read_sidecar(weights)
    model = validate_checkpoint(weights, sidecar)
    recorded = sidecar.get("weights_sha256")
    if recorded and sha256_file(weights) != recorded:
        raise CheckpointError(f"{weights.name} is not the file its sidecar describes (sha256 differs)")
    return model.to(device)


# ------------------------------------------------------------------------------------ training state


def state_paths(path: str | Path) -> tuple[Path, Path]:
    weights, _ = checkpoint_paths(path)
    stem = weights.with_suffix("")
    return stem.with_name(stem.name + ".state.safetensors"), stem.with_name(stem.name + ".state.json")


def save_training_state(path: str | Path, *, optimizer: torch.optim.Optimizer, info: dict[str, Any]) -> None:
    """Optimizer tensors and the torch RNG beside a checkpoint, so training resumes exactly."""
    tensors_path, info_path = state_paths(path)
    opt = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {"rng.torch": torch.get_rng_state()}
    scalars: dict[str, dict[str, Any]] = {}
    for index, slots in opt["state"].items():
        for name, value in slots.items():
            if torch.is_tensor(value):
                tensors[f"optimizer.{index}.{name}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(index), {})[name] = value
    save_file(tensors, str(tensors_path))
    info_path.write_text(
        json.dumps({**info, "param_groups": opt["param_groups"], "optimizer_scalars": scalars}, indent=1)
        + "\n"
    )


def load_training_state(path: str | Path, *, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Restore what `save_training_state` wrote; returns its info dict (step, losses, ...)."""
    tensors_path, info_path = state_paths(path)
    if not tensors_path.exists() or not info_path.exists():
        raise CheckpointError(f"no training state beside {path} to resume from ({tensors_path.name} missing)")
    tensors = _read_weights(tensors_path)
    info = json.loads(info_path.read_text())
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    for index, slots in info.pop("optimizer_scalars").items():
        state.setdefault(int(index), {}).update(slots)
    optimizer.load_state_dict({"state": state, "param_groups": info.pop("param_groups")})
    torch.set_rng_state(tensors["rng.torch"])
    return info
