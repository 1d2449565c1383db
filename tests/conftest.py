"""Shared pytest fixtures."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import settings

sys.path.insert(0, str(Path(__file__).resolve().parent))

# Property tests draw the same examples on every run by default (`derandomize`), so CI
# is reproducible; `HYPOTHESIS_PROFILE=explore` draws fresh random examples to hunt for
# new counterexamples (and failures found that way become fixed tests).
settings.register_profile("default", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


# --- tiny real ONNX models (tests/model_factory.py) --------------------------


@pytest.fixture(scope="session")
def tiny_classifier_dir(tmp_path_factory) -> Path:
    """A 2-label classifier (benign, injection) with tokenizer.json and config.json."""
    from model_factory import make_classifier

    return make_classifier(tmp_path_factory.mktemp("tiny_classifier"))


@pytest.fixture(scope="session")
def tiny_embedder_dir(tmp_path_factory) -> Path:
    """A 16-dim embedder whose medical words and product words form two clusters."""
    from model_factory import make_embedder

    return make_embedder(tmp_path_factory.mktemp("tiny_embedder"), dim=16)
