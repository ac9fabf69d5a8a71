"""Shared fixtures for the nlp tests: one model trained per session into a tmp cache dir."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # allow plain `pytest tests/nlp` without an installed package
    sys.path.insert(0, str(ROOT))

from nlp import BranchRef, Model, load_or_train  # noqa: E402
from nlp.corpus import DEFAULT_CORPUS_DIR  # noqa: E402


@pytest.fixture(scope="session")
def model(tmp_path_factory: pytest.TempPathFactory) -> Model:
    """Train (or load) the model once per test session into a temporary cache dir."""
    if not any(DEFAULT_CORPUS_DIR.glob("*.tsv")):
        pytest.skip("no labelled corpus in data/corpus")
    return load_or_train(tmp_path_factory.mktemp("model-cache"))


@pytest.fixture()
def branches() -> list[BranchRef]:
    """A small branch directory."""
    return [
        BranchRef("B001", "千佳银行人民路支行", ("人民路",)),
        BranchRef("B002", "千佳银行解放路支行"),
        BranchRef("B003", "千佳银行人民广场营业部"),
        BranchRef("B004", "千佳银行东门分理处"),
        BranchRef("B005", "千佳银行高新区支行", ("高新", "科技园网点")),
    ]
