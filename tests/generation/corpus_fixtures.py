"""A few real chorales, encoded once per test session into a temporary cache (import the fixtures)."""

import pytest

from generation.music.corpus import load_corpus

SMALL_LIMIT = 10  # 8 train, 1 validation, 1 held-out piece


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("corpora")


@pytest.fixture(scope="session")
def small_corpus(corpus_dir):
    return load_corpus("chorales", limit=SMALL_LIMIT, cache_dir=corpus_dir)


@pytest.fixture
def corpus_env(corpus_dir, small_corpus, monkeypatch):
    """DOCBGM_CORPUS_DIR points at the session cache, so commands find `chorales:10` already encoded."""
    monkeypatch.setenv("DOCBGM_CORPUS_DIR", str(corpus_dir))
    return corpus_dir
