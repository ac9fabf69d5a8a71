"""`qianjia classify` (the JSON-lines contract) and `qianjia nlp train|evaluate`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from cli.main import cli
from core.db import transaction
from models import Channel
from services.branches import load_branch_file, upsert_branches
from services.tickets import Classification, submit_feedback

CONTRACT = {"text", "type", "category", "confidence", "urgent", "team", "branch"}


def env_for(config: Any, model_dir: Path) -> dict[str, str]:
    return {"DATABASE_URL": config.database_url, "QIANJIA_NLP__MODEL_DIR": str(model_dir)}


def test_classify_reads_lines_and_writes_one_json_object_per_line(config: Any, runtime: Any,
                                                                   model_dir: Path) -> None:
    with transaction(runtime.sessions) as s:
        upsert_branches(s, rows=load_branch_file(), now=datetime.now(UTC))
    lines = [
        "人民路那个网点排队排了两个小时，只开一个窗口",
        "",
        "我的卡 6222 0212 3456 7890 128 昨晚被盗刷了三笔，我要报警",
        "😡😡😡",
        "1234567890",
        "謝謝你們的大堂經理，服務很周到",
    ]
    result = CliRunner(env=env_for(config, model_dir)).invoke(cli, ["classify"], input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.output
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(out) == len(lines)
    for obj in out:
        assert CONTRACT <= set(obj)
    assert out[0]["branch"] == "RMR" and out[0]["category"] == "wait_time"
    assert out[1]["category"] == "other" and out[1]["text"] == ""
    assert "6222 0212 3456 7890 128" not in out[2]["text"] and out[2]["urgent"] is True
    assert out[2]["category"] == "security_privacy" and out[2]["team"] == "risk"
    assert out[3]["category"] in {"other"} | set(config.section("labels")["categories"])
    assert out[4]["text"] == "1234567890"  # a plain number is not PII
    assert out[5]["type"] == "praise"


def test_classify_text_option(config: Any, model_dir: Path) -> None:
    result = CliRunner(env=env_for(config, model_dir)).invoke(
        cli, ["classify", "--no-branches", "--text", "手机银行登录一直闪退", "--text", "年费能不能免"])
    assert result.exit_code == 0, result.output
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["category"] for o in out] == ["digital_channels", "fees"]
    assert all(o["branch"] is None for o in out)


def test_classify_refuses_invalid_utf8(config: Any, model_dir: Path) -> None:
    result = CliRunner(env=env_for(config, model_dir)).invoke(cli, ["classify", "--no-branches"],
                                                              input=b"ok\n\xff\xfe bad\n")
    assert result.exit_code == 2
    assert "第 2 行" in result.output


def test_evaluate_prints_scores_and_confusion(config: Any, model_dir: Path) -> None:
    result = CliRunner(env=env_for(config, model_dir)).invoke(cli, ["nlp", "evaluate"])
    assert result.exit_code == 0, result.output
    assert "macro-F1" in result.output and "confusion" in result.output and "weakest pairs" in result.output


def test_evaluate_a_labelled_file_and_refuse_a_bad_one(config: Any, model_dir: Path, tmp_path: Path) -> None:
    good = tmp_path / "labelled.tsv"
    good.write_text("type\tcategory\ttext\ncomplaint\twait_time\t排队太久了\npraise\tstaff_attitude\t柜员很耐心\n",
                    encoding="utf-8")
    result = CliRunner(env=env_for(config, model_dir)).invoke(cli, ["nlp", "evaluate", "--file", str(good)])
    assert result.exit_code == 0 and "（2 条）" in result.output
    bad = tmp_path / "bad.tsv"
    bad.write_text("complaint\t排队太久了\n", encoding="utf-8")
    result = CliRunner(env=env_for(config, model_dir)).invoke(cli, ["nlp", "evaluate", "--file", str(bad)])
    assert result.exit_code == 2 and "3 列" in result.output


def test_train_with_corrections_reports_before_and_after(config: Any, runtime: Any, model_dir: Path,
                                                         tmp_path: Path) -> None:
    from models.staff import CategoryCorrection, Staff

    now = datetime.now(UTC)
    with transaction(runtime.sessions) as s:
        staff = Staff(username="zhang", password_hash="x", role="agent", team="feedback", created_at=now)
        s.add(staff)
        s.flush()
        for text in ("销卡要跑三趟柜台才办完", "注销账户为什么要预约还要等一周"):
            ticket = submit_feedback(s, customer=None, channel=Channel.OFFLINE, now=now, cfg=config,
                                     classification=Classification(text=text, type="complaint",
                                                                   category="account_card"))
            s.add(CategoryCorrection(ticket_id=ticket.id, text=text, old_category="account_card",
                                     new_category="process_efficiency", staff_id=staff.id, created_at=now))
    out_dir = tmp_path / "model"
    result = CliRunner(env=env_for(config, model_dir)).invoke(
        cli, ["nlp", "train", "--include-corrections", "--out", str(out_dir)])
    assert result.exit_code == 0, result.output
    assert "人工更正 2 条" in result.output
    assert result.output.count("→") == 2
    meta = json.loads((out_dir / "metadata.json").read_text(encoding="utf-8"))
    assert meta["heldout"]["n"] > 0
