"""Small trained checkpoints committed with the code, so the demo never has to train.

Each `<variant>.safetensors` + `<variant>.json` pair was made by `python manage.py train <variant>
--preset small ... --out generation/pretrained/<variant>`; the sidecar's "command" field records the
exact command, its "losses" the training and validation curves.
"""

from pathlib import Path

PRETRAINED_DIR = Path(__file__).resolve().parent


def pretrained_path(variant: str) -> Path:
    """The committed weights of `variant` (FileNotFoundError naming what is committed if absent)."""
    path = PRETRAINED_DIR / f"{variant}.safetensors"
    if not path.exists():
        committed = sorted(p.stem for p in PRETRAINED_DIR.glob("*.safetensors"))
        raise FileNotFoundError(f"no committed checkpoint for {variant!r}; committed: {committed or 'none'}")
    return path


def pretrained_variants() -> list[str]:
    return sorted(p.stem for p in PRETRAINED_DIR.glob("*.safetensors"))
