"""generation/paths.py: one var/ folder for settings, corpora, stem caches and trained checkpoints."""

import io

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command

from generation import paths
from generation.music.corpus import default_cache_dir
from generation.separation import stems


def test_var_dir_is_the_environment_variable_else_the_repository_var(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCBGM_VAR_DIR", str(tmp_path))
    assert paths.var_dir() == tmp_path
    monkeypatch.setenv("DOCBGM_VAR_DIR", "")
    assert paths.var_dir() == paths.REPO_ROOT / "var"
    monkeypatch.delenv("DOCBGM_VAR_DIR")
    assert paths.var_dir() == paths.REPO_ROOT / "var"
    assert (paths.REPO_ROOT / "manage.py").exists()
    assert (paths.PRETRAINED_DIR / "proposed.safetensors").exists()


def test_the_settings_use_the_same_folder():
    assert paths.var_dir() == django_settings.VAR_DIR


def test_corpus_and_stem_caches_follow_the_var_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("DOCBGM_CORPUS_DIR", raising=False)
    monkeypatch.setenv("DOCBGM_VAR_DIR", str(tmp_path))
    assert default_cache_dir() == tmp_path / "corpora"
    assert stems.var_dir is paths.var_dir  # the stem cache is <var>/separation


def test_train_saves_under_the_var_dir_by_default(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCBGM_VAR_DIR", str(tmp_path))
    seen = {}

    def fake_train_variant(variant, *, out, **kwargs):
        seen["out"] = out
        raise ValueError("stop here")

    monkeypatch.setattr("generation.management.commands.train.train_variant", fake_train_variant)
    with pytest.raises(CommandError, match="stop here"):
        call_command("train", "proposed", "--preset", "tiny", stdout=io.StringIO())
    assert seen["out"] == tmp_path / "checkpoints" / "proposed-tiny"
