"""data/intake.py: new messages enter training only; duplicates, PII and held-out-side rows are refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from nlp import load_corpus
from nlp.corpus import is_heldout
from nlp.text import normalize

ROOT = Path(__file__).resolve().parents[2]
INTAKE = ROOT / "data" / "intake.py"


def _first_text(heldout: bool, stem: str) -> str:
    """A fresh message whose normalised form falls on the requested side of the split."""
    for i in range(1000):
        text = f"{stem}第{i}次来问了"
        if is_heldout(normalize(text)) == heldout:
            return text
    raise AssertionError("no text found")


def _small_corpus(tmp_path: Path) -> Path:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in ("fees", "wait_time"):
        lines = (ROOT / "data" / "corpus" / f"{name}.tsv").read_text(encoding="utf-8").splitlines()
        (corpus / f"{name}.tsv").write_text("\n".join(lines[:41]) + "\n", encoding="utf-8")
    return corpus


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(INTAKE), *args], capture_output=True, text=True, check=False)


def test_intake_accepts_training_side_only_and_logs(tmp_path: Path) -> None:
    corpus = _small_corpus(tmp_path)
    log = tmp_path / "log.tsv"
    before = load_corpus(corpus)
    existing = before.train[0].text
    fresh = _first_text(False, "年费到底怎么收的我都搞不清楚")
    held_side = _first_text(True, "短信提醒费能不能免掉啊")
    new = tmp_path / "new.tsv"
    new.write_text(
        "type\ttext\n"
        f"complaint\t{fresh}\n"
        f"inquiry\t{held_side}\n"
        f"complaint\t{existing}\n"  # exact duplicate of a corpus row
        f"complaint\t{existing}!\n"  # near-duplicate
        "complaint\t我的卡号6222021234567890128被扣了管理费\n"  # carries a card number
        "grumble\t类型不对的一行\n",
        encoding="utf-8",
    )

    dry = _run("--category", "fees", "--corpus-dir", str(corpus), "--log", str(log), "--dry-run", str(new))
    assert dry.returncode == 0, dry.stderr
    assert "1  accepted" in dry.stdout and "held-out side" in dry.stdout
    assert not log.exists() and load_corpus(corpus).hash == before.hash

    done = _run("--category", "fees", "--corpus-dir", str(corpus), "--log", str(log), str(new))
    assert done.returncode == 0, done.stderr
    for reason in ("exact duplicate", "near-duplicate", "contains PII", "malformed", "held-out side"):
        assert reason in done.stdout
    after = load_corpus(corpus)
    assert {e.normalized for e in after.heldout} == {e.normalized for e in before.heldout}
    added = {e.text for e in after.train} - {e.text for e in before.train}
    assert added == {fresh}
    assert log.read_text(encoding="utf-8") == f"\tfees\t\tcomplaint\tadd\t\t{fresh}\n"

    again = _run("--category", "fees", "--corpus-dir", str(corpus), "--log", str(log), str(new))
    assert again.returncode == 0 and "appended" not in again.stdout and "  accepted" not in again.stdout
    assert "2  exact duplicate" in again.stdout  # the row added by the first run is now a duplicate
    assert load_corpus(corpus).hash == after.hash  # a second run adds nothing


def test_intake_rejects_unknown_category(tmp_path: Path) -> None:
    new = tmp_path / "new.tsv"
    new.write_text("type\ttext\ncomplaint\t随便\n", encoding="utf-8")
    result = _run("--category", "nonsense", str(new))
    assert result.returncode == 2 and "invalid choice" in result.stderr
