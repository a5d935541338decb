"""Where the project's files live, resolved once and without Django (settings, corpora, caches use it).

    REPO_ROOT        the checkout (manage.py's folder)
    PRETRAINED_DIR   the small checkpoints committed with the code (generation/pretrained/)
    var_dir()        $DOCBGM_VAR_DIR, else <repo>/var: the git-ignored folder for the database, media,
                     corpus and stem caches, and checkpoints trained here

Stdlib only, so that the Django-free core (generation/music, the training and evaluation code) and
docbgm_site/settings.py agree on one var/ folder.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PRETRAINED_DIR = REPO_ROOT / "generation" / "pretrained"


def var_dir() -> Path:
    """$DOCBGM_VAR_DIR (an empty value counts as unset), else <repo>/var; read on every call, so a test
    or a command that sets the variable is seen at once. The folder is not created here."""
    return Path(os.environ.get("DOCBGM_VAR_DIR") or REPO_ROOT / "var")
