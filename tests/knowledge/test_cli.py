"""`shegong ask` and `shegong kb eval` as a user runs them (a subprocess with its own data dir)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from knowledge_test_helpers import REPO, markdown, write

CJK = re.compile(r"[\u4e00-\u9fff]")

DOCS = {
    "dibao/tiaojian.md": markdown(
        "低保申请条件",
        "# 低保申请条件\n\n家庭人均收入低于当地低保标准、家庭财产符合规定的本地户籍家庭，可以向镇街申请低保。",
        source="示例低保指南", year="2021", region="广东省"),
    "yanglao/gaoling.md": markdown(
        "高龄津贴",
        "# 高龄津贴\n\n年满八十周岁、具有本省户籍的老人，可以到村居委会登记领取高龄津贴，按月发放。",
        source="示例高龄津贴办法", year="2018", region="广东省"),
    "canji/zheng.txt": "残疾人证办理\n\n先向县级残联提出申请，再到指定医疗机构做残疾评定，合格后由残联核发残疾人证。\n",
}

QUESTIONS = [
    {"q": "低保要满足什么条件", "expect": ["dibao/tiaojian.md"]},
    {"q": "八十岁老人高龄津贴点领", "expect": ["yanglao/gaoling.md"]},
    {"q": "残疾人证去边度办", "expect": ["canji/zheng.txt"]},
    {"q": "今日恒指收市几多点", "expect": []},
    {"q": "哈哈", "expect": []},
]


@pytest.fixture(scope="module")
def kb_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cli-kb")
    for rel, text in DOCS.items():
        write(root, rel, text)
    return root


@pytest.fixture()
def run(tmp_path):
    """Run `python -m bot.cli ...` with SHEGONG_DATA_DIR in tmp_path, from tmp_path (no stray .env)."""
    data_dir = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHEGONG_")}
    env["SHEGONG_DATA_DIR"] = str(data_dir)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    env["PYTHONIOENCODING"] = "utf-8"

    def _run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "bot.cli", *args], input=stdin, capture_output=True,
                              text=True, encoding="utf-8", env=env, cwd=tmp_path, timeout=90)

    return _run


def check_answer_object(obj: dict, kb_dir: Path) -> None:
    assert set(obj) == {"answer", "confident", "sources"}
    assert isinstance(obj["answer"], str) and obj["answer"]
    assert isinstance(obj["confident"], bool)
    assert isinstance(obj["sources"], list) and len(obj["sources"]) <= 3
    for source in obj["sources"]:
        assert set(source) == {"path", "title", "score"}
        assert not Path(source["path"]).is_absolute()
        assert "\\" not in source["path"]
        assert (kb_dir / source["path"]).is_file()
        assert isinstance(source["title"], str) and source["title"]
        assert isinstance(source["score"], int | float)


def test_ask_json_prints_one_answer_object(run, kb_dir):
    result = run("ask", "--json", "--kb", str(kb_dir), "低保要满足什么条件")
    assert result.returncode == 0, result.stderr
    lines = [ln for ln in result.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stdout
    obj = json.loads(lines[0])
    check_answer_object(obj, kb_dir)
    assert obj["confident"] is True
    assert obj["sources"][0]["path"] == "dibao/tiaojian.md"
    assert obj["sources"][0]["title"] == "低保申请条件"
    assert "《低保申请条件》" in obj["answer"]
    scores = [s["score"] for s in obj["sources"]]
    assert scores == sorted(scores, reverse=True)


def test_ask_json_reads_questions_from_stdin(run, kb_dir):
    stdin = "低保要满足什么条件\n今日恒指收市几多点\n残疾人证去边度办\n"
    result = run("ask", "--json", "--kb", str(kb_dir), "-", stdin=stdin)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3, result.stdout
    objs = [json.loads(ln) for ln in lines]
    for obj in objs:
        check_answer_object(obj, kb_dir)
    assert [o["confident"] for o in objs] == [True, False, True]
    assert objs[0]["sources"][0]["path"] == "dibao/tiaojian.md"
    assert objs[2]["sources"][0]["path"] == "canji/zheng.txt"


def test_ask_plain_text_shows_answer_and_citation(run, kb_dir):
    result = run("ask", "--kb", str(kb_dir), "高龄津贴点领")
    assert result.returncode == 0, result.stderr
    assert "高龄津贴" in result.stdout
    assert "📄 来源：《高龄津贴》" in result.stdout


@pytest.mark.parametrize("with_kb", [True, False], ids=["kb-dir", "default-kb"])
def test_ask_empty_question_fails_with_chinese_message(run, kb_dir, with_kb):
    args = ["ask", "--kb", str(kb_dir), ""] if with_kb else ["ask", ""]
    result = run(*args)
    assert result.returncode != 0
    assert result.stdout.strip() == ""
    assert CJK.search(result.stderr), result.stderr
    assert "问题" in result.stderr
    assert "Traceback" not in result.stderr


def test_ask_missing_kb_dir_fails_cleanly(run, tmp_path):
    result = run("ask", "--kb", str(tmp_path / "nowhere"), "低保怎么申请")
    assert result.returncode != 0
    assert "找不到知识库目录" in result.stderr
    assert "Traceback" not in result.stderr


def _write_questions(path: Path, items: list[dict]) -> Path:
    path.write_text("".join(json.dumps(it, ensure_ascii=False) + "\n" for it in items), encoding="utf-8")
    return path


def _metric(output: str, name: str) -> float:
    m = re.search(rf"^{re.escape(name)}:\s*([0-9.]+)", output, re.M)
    assert m, f"no {name} line in:\n{output}"
    return float(m.group(1))


def test_kb_eval_prints_metrics_matching_the_library(run, kb_dir, tmp_path):
    from knowledge import KnowledgeBase
    from knowledge.evaluate import evaluate

    questions = _write_questions(tmp_path / "q.jsonl", QUESTIONS)
    result = run("kb", "eval", str(questions), "--kb", str(kb_dir))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    expected = evaluate(KnowledgeBase.from_path(kb_dir), questions).as_json()
    assert _metric(out, "hit@1") == pytest.approx(expected["hit@1"], abs=5e-4)
    assert _metric(out, "hit@3") == pytest.approx(expected["hit@3"], abs=5e-4)
    assert _metric(out, "MRR") == pytest.approx(expected["mrr"], abs=5e-4)
    refused = re.search(r"^no-answer refused:\s*(\d+)/(\d+)", out, re.M)
    assert refused, out
    assert int(refused.group(2)) == 2
    # The questions were written so that this tiny base gets them all right.
    assert _metric(out, "hit@1") == 1.0
    assert refused.group(1) == "2"

    as_json = run("kb", "eval", str(questions), "--kb", str(kb_dir), "--json")
    assert as_json.returncode == 0, as_json.stderr
    report = json.loads(as_json.stdout)
    assert report == expected


def test_kb_eval_rejects_a_bad_question_file(run, kb_dir, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"q": "低保怎么申请", "expect": []}\nnot json at all\n', encoding="utf-8")
    result = run("kb", "eval", str(bad), "--kb", str(kb_dir))
    assert result.returncode != 0
    assert f"{bad}:2" in result.stderr
    assert "Traceback" not in result.stderr


def test_kb_eval_on_shared_dev_set(run, dev_set):
    dev_kb, dev_questions = dev_set
    result = run("kb", "eval", str(dev_questions), "--kb", str(dev_kb), "-v")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for name in ("hit@1", "hit@3", "MRR"):
        _metric(out, name)
    refused = re.search(r"^no-answer refused:\s*(\d+)/(\d+)", out, re.M)
    assert refused, out
    assert _metric(out, "hit@1") >= 0.95, out
    assert refused.group(1) == refused.group(2), out
