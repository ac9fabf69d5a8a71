"""`qianjia classify` and `qianjia nlp train|evaluate`: the classifier from the command line."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from cli.common import fail, friendly_errors, get_config
from core.config import ROOT, Config

BATCH = 512


def model_dir(cfg: Config, override: str | None = None) -> Path:
    path = Path(override or str(cfg.get("nlp.model_dir", "var/model")))
    return path if path.is_absolute() else ROOT / path


def load_branch_refs(cfg: Config) -> list[Any]:
    """Branches from the database when it is reachable and migrated; none otherwise (stderr says so)."""
    from sqlalchemy.exc import SQLAlchemyError

    from core.db import get_engine, session_factory
    from services.classify import branch_refs

    try:
        with session_factory(get_engine(cfg.database_url))() as session:
            return branch_refs(session)
    except SQLAlchemyError:
        click.echo("提示：无法读取网点表（数据库未初始化？），branch 字段将为 null", err=True)
        return []


def corrections(cfg: Config) -> list[tuple[str, str, str]]:
    from core.db import get_engine, session_factory
    from services.corrections import training_examples

    with session_factory(get_engine(cfg.database_url))() as session:
        return training_examples(session)


def read_lines(stream: Any) -> Iterator[tuple[int, str]]:
    """UTF-8 lines without their line ending; invalid UTF-8 is a clear error."""
    for number, raw in enumerate(stream, start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            fail(f"第 {number} 行不是有效的 UTF-8 文本")
        yield number, line.rstrip("\r\n")


def analysis_json(analysis: Any) -> str:
    return json.dumps({
        "text": analysis.text,
        "type": analysis.type,
        "category": analysis.category,
        "confidence": analysis.confidence,
        "type_confidence": analysis.type_confidence,
        "category_confidence": analysis.category_confidence,
        "urgent": analysis.urgent,
        "urgent_reasons": list(analysis.urgent_reasons),
        "priority": analysis.priority,
        "team": analysis.team,
        "needs_triage": analysis.needs_triage,
        "branch": analysis.branch,
    }, ensure_ascii=False)


@click.command()
@click.option("--text", "texts", multiple=True, help="Classify this text instead of reading stdin (repeatable).")
@click.option("--no-branches", is_flag=True, help="Do not read the branch table (branch is always null).")
@click.pass_context
@friendly_errors
def classify(ctx: click.Context, texts: tuple[str, ...], no_branches: bool) -> None:
    """Read UTF-8 lines on stdin (or --text), write one JSON object per line.

    Fields: text (PII-redacted), type, category, confidence, urgent, team, branch (or null),
    plus type_confidence, category_confidence, urgent_reasons, priority, needs_triage.
    """
    from services.runtime import build_runtime

    cfg = get_config(ctx)
    runtime = build_runtime(cfg)
    analyzer = runtime.analyzer
    branches = [] if no_branches else load_branch_refs(cfg)

    def emit(batch: list[str]) -> None:
        for analysis in analyzer.analyze_many(batch, branches):
            click.echo(analysis_json(analysis))
        sys.stdout.flush()

    if texts:
        emit(list(texts))
        return
    interactive = sys.stdin.isatty()
    batch: list[str] = []
    for _, line in read_lines(sys.stdin.buffer):
        batch.append(line)
        if interactive or len(batch) >= BATCH:
            emit(batch)
            batch = []
    if batch:
        emit(batch)


@click.group()
def nlp() -> None:
    """Train and evaluate the classifier."""


@nlp.command("train")
@click.option("--include-corrections", is_flag=True,
              help="Fold the staff's category corrections into training and report before/after scores.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Where to save the model (default: nlp.model_dir).")
@click.pass_context
@friendly_errors
def train_cmd(ctx: click.Context, include_corrections: bool, out_dir: str | None) -> None:
    """Train both heads on the shipped corpus's training split; print held-out scores."""
    from nlp import load_corpus, save_model, train

    cfg = get_config(ctx)
    target = model_dir(cfg, out_dir)
    corpus = load_corpus()
    extra = corrections(cfg) if include_corrections else []
    steps = ["基线模型" if include_corrections else "训练", *(["含人工更正"] if include_corrections else [])]
    models: list[Any] = []
    with click.progressbar(steps, label="训练中", file=sys.stderr) as bar:
        for step in bar:
            models.append(train(corpus=corpus, extra_examples=extra if step == "含人工更正" else ()))
    final = models[-1]
    save_model(final, target)
    report = final.heldout_report
    click.echo(f"训练样本 {len(corpus.train)} 条，留出集 {len(corpus.heldout)} 条（从不参与训练）")
    if include_corrections:
        before = models[0].heldout_report
        click.echo(f"人工更正 {len(extra)} 条")
        click.echo(f"留出集 category macro-F1：{before.category.macro_f1:.4f} → {report.category.macro_f1:.4f}")
        click.echo(f"留出集 type macro-F1：    {before.type.macro_f1:.4f} → {report.type.macro_f1:.4f}")
    else:
        click.echo(f"留出集 category macro-F1：{report.category.macro_f1:.4f}")
        click.echo(f"留出集 type macro-F1：    {report.type.macro_f1:.4f}")
    click.echo(f"模型已保存到 {target}")


@nlp.command("evaluate")
@click.option("--file", "path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="A labelled TSV (columns type, category, text) instead of the held-out split.")
@click.pass_context
@friendly_errors
def evaluate_cmd(ctx: click.Context, path: str | None) -> None:
    """Per-class precision/recall/F1, macro-F1 and confusion matrices."""
    from nlp import EvalReport, load_corpus, normalize, redact
    from nlp.corpus import Example
    from nlp.model import head_report
    from services.runtime import build_runtime

    cfg = get_config(ctx)
    model = build_runtime(cfg).analyzer.model
    if path is None:
        examples = load_corpus().heldout
        source = "留出集"
    else:
        examples = []
        with open(path, encoding="utf-8") as fh:
            for number, line in enumerate(fh, start=1):
                parts = line.rstrip("\n").split("\t")
                if number == 1 and parts[:2] == ["type", "category"]:
                    continue
                if len(parts) != 3:
                    fail(f"{path} 第 {number} 行应为 3 列（type, category, text），实际 {len(parts)} 列")
                kind, category, text = parts
                clean = redact(text)
                examples.append(Example(clean, normalize(clean), kind, category, f"{path}:{number}"))
        source = path
    if not examples:
        fail("没有可评估的样本")
    chunks = [examples[i:i + 256] for i in range(0, len(examples), 256)]
    predictions: list[Any] = []
    with click.progressbar(chunks, label="评估中", file=sys.stderr) as bar:
        for chunk in bar:
            predictions.extend(model.predict([e.text for e in chunk]))
    labels = model.labels
    report = EvalReport(
        n=len(examples),
        type=head_report("type", labels["type"], [e.type for e in examples], [p.type for p in predictions]),
        category=head_report("category", labels["category"], [e.category for e in examples],
                             [p.category for p in predictions]),
    )
    click.echo(f"评估数据：{source}（{report.n} 条）")
    click.echo(report.format())
