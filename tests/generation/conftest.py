"""Fixtures shared by the generation tests.

A few real chorales are encoded once per test session into a temporary cache (`small_corpus`).
"""

import pytest
import torch

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


@pytest.fixture
def one_torch_thread():
    """Torch on one thread for the test, restored after: small nets only contend on more (2 CI cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
