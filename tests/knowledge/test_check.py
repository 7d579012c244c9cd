"""`shegong kb check`: each kind of finding on small documents, the clean case, the data file and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from knowledge_test_helpers import REPO, write

from knowledge.check import (
    Finding,
    Regulation,
    RegulationsError,
    check_text,
    check_tree,
    load_regulations,
)

TODAY = date(2026, 12, 2)
REGULATIONS = [
    Regulation(
        "社会救助暂行办法", ("国务院令第649号",), date(2014, 2, 21), date(2014, 5, 1), "中华人民共和国社会救助法"
    ),
    Regulation("中华人民共和国社会救助法", ("社会救助法",), date(2026, 4, 30), date(2026, 7, 1), "", ("低保", "特困")),
    Regulation(
        "中华人民共和国医疗保障法", ("医疗保障法",), date(2026, 8, 28), date(2027, 1, 1), "", ("医疗救助", "医保")
    ),
]
FRONT = """---
title: {title}
region: 广东省
reviewed: {reviewed}
sources:
  - title: 中华人民共和国社会救助法
    issuer: 全国人民代表大会常务委员会
    number: ""
    date: 2026-04-30
    url: https://flk.npc.gov.cn/
{extra}---
"""
CLEAN_BODY = """# 高龄津贴

## 谁可以领
年满80周岁的本省户籍老人可以申请（依据：《广东省高龄老人津贴制度实施意见》，2023年）。

## 能领多少
- 80至89周岁：每人每月不少于50元；
- 90周岁以上：标准更高。
（来源：广东省民政厅通知，2024年）

## 多久到账
审核通过后按月发放，具体时间以当地民政部门公布为准，一般在15个工作日内办结。

从2026年7月1日起，申请也可以在网上提交。
"""


def document(
    body: str = CLEAN_BODY, title: str = "高龄津贴怎么领", reviewed: str = "2026-11-30", extra: str = ""
) -> str:
    return FRONT.format(title=title, reviewed=reviewed, extra=extra) + body


def check(text: str, today: date = TODAY, path: str = "doc.md") -> list[Finding]:
    return check_text(path, text, today, REGULATIONS)


def kinds(findings: list[Finding]) -> list[tuple[str, int]]:
    return [(f.kind, f.line) for f in findings]


def body_line(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), start=1) if needle in line)


# -- the clean case ----------------------------------------------------------------------------------
def test_a_document_following_the_contracts_has_no_findings():
    assert check(document()) == []


# -- front matter -------------------------------------------------------------------------------------
def test_missing_front_matter():
    findings = check("# 标题\n\n没有开头信息的一段正文。\n")
    assert kinds(findings) == [("front-matter", 1)]
    assert findings[0].message.startswith("第1行：缺少开头信息")


def test_missing_title_sources_and_reviewed():
    text = "---\nregion: 广东省\n---\n# 标题\n\n正文一段。\n"
    assert sorted(f.kind for f in check(text)) == ["reviewed", "sources", "title"]


def test_old_free_text_source_is_reported_where_it_is_written():
    text = "---\ntitle: 标题\nsource: 某市民政局指南\nyear: 2020\nreviewed: 2026-11-01\n---\n正文一段。\n"
    findings = check(text)
    assert kinds(findings) == [("sources", 3)]
    assert "只有旧的 source 字段" in findings[0].message


def test_incomplete_source_entries_name_the_problem_and_line():
    extra = (
        "  - title: 民政部通知\n"  # line 11: no issuer, no date
        "    url: ftp://example.org/x\n"
        "  - title: 某办法\n"
        "    issuer: 民政部\n"
        "    date: 2021年6月\n"
        "    link: https://example.org/\n"
    )
    findings = check(document(extra=extra))
    messages = {(f.line, f.message.split("：", 1)[1]) for f in findings}
    assert all(f.kind == "sources" for f in findings)
    assert (11, "sources 第2项缺少 issuer（发布机关）") in messages
    assert (11, "sources 第2项缺少 date（日期）") in messages
    assert (12, "sources 第2项的 url 应以 http:// 或 https:// 开头；没有网址时删去 url 这一项") in messages
    assert (15, "sources 第3项的日期“2021年6月”应为 YYYY-MM-DD、YYYY-MM 或 YYYY") in messages
    assert (16, "sources 第3项有不认识的字段“link”") in messages
    assert any(line == 13 and m.startswith("sources 第3项既没有 number（文号）也没有 url") for line, m in messages)
    assert len(findings) == 6


def test_a_source_nobody_could_find_must_say_what_is_unconfirmed():
    entry = "  - title: 最低生活保障审核确认办法\n    issuer: 民政部\n    date: 2021\n"  # line 11, no 文号, no url
    [finding] = check(document(extra=entry))
    assert (finding.kind, finding.line) == ("sources", 11)
    assert "unconfirmed" in finding.message
    assert check(document(extra=entry + "    unconfirmed: 文号未核实\n")) == []
    assert check(document(extra=entry + "    number: 民发〔2021〕57号\n")) == []
    # An empty note is no note: the entry is still unlocatable, and the note itself is reported where it is.
    assert kinds(check(document(extra=entry + '    unconfirmed: ""\n'))) == [("sources", 11), ("sources", 14)]


def test_unknown_front_matter_key_and_yaml_that_does_not_parse():
    findings = check(document(extra="sourcse: 拼错了\n"))
    assert kinds(findings) == [("front-matter", 11)]
    broken = "---\ntitle: 标题: 有冒号\nreviewed: 2026-11-01\n---\n正文。\n"
    assert ("front-matter", 2) in kinds(check(broken))


# -- review date ---------------------------------------------------------------------------------------
def test_review_older_than_a_year_depends_on_the_date_passed_in():
    text = document(reviewed="2025-12-02")
    assert check(text, today=date(2026, 12, 2)) == []  # exactly one year: still fine
    [finding] = check(text, today=date(2026, 12, 3))
    assert (finding.kind, finding.line) == ("reviewed", 4)
    assert "已超过一年" in finding.message


def test_review_date_in_the_future_or_not_a_date():
    assert kinds(check(document(reviewed="2027-01-05"))) == [("reviewed", 4)]
    assert kinds(check(document(reviewed="去年"))) == [("reviewed", 4)]


# -- superseded regulations ----------------------------------------------------------------------------
def test_citing_a_superseded_regulation_is_reported_at_its_paragraph():
    body = CLEAN_BODY + "\n## 依据\n申请条件依照《社会救助暂行办法》执行。\n"
    findings = check(document(body=body))
    assert kinds(findings) == [("superseded", body_line(document(body=body), "依照《社会救助暂行办法》"))]
    assert "已被《中华人民共和国社会救助法》取代" in findings[0].message
    # Before the law took effect the regulation was the rule.
    assert check(document(body=body, reviewed="2026-06-01"), today=date(2026, 6, 30)) == []


@pytest.mark.parametrize(
    "paragraph",
    [
        "《社会救助暂行办法》已被《社会救助法》取代，现在按新法办理。",
        "2014年的《社会救助暂行办法》已经废止。",
    ],
)
def test_saying_in_the_same_paragraph_that_it_was_replaced_is_enough(paragraph: str):
    assert check(document(body=CLEAN_BODY + f"\n## 依据\n{paragraph}\n")) == []


def test_a_superseded_source_entry_and_the_checked_list():
    extra = "  - title: 社会救助暂行办法\n    issuer: 国务院\n    number: 国务院令第649号\n    date: 2014-02-21\n"
    alone = FRONT.replace("  - title: 中华人民共和国社会救助法\n", "  - title: 民政部通知\n").format(
        title="高龄津贴怎么领", reviewed="2026-11-30", extra=extra
    )
    assert kinds(check(alone + CLEAN_BODY)) == [("superseded", 11)]
    # Listed beside the law that replaced it, the old regulation is history, not a rule relied on.
    assert check(document(extra=extra)) == []
    body = CLEAN_BODY + "\n## 历史\n2014年起施行的国务院令第649号曾经规定……\n"
    assert [f.kind for f in check(document(body=body))] == ["superseded"]
    assert check(document(body=body, extra="supersedes_checked: [社会救助暂行办法]\n")) == []


# -- laws to review against ------------------------------------------------------------------------------
def test_a_document_on_a_new_laws_subject_must_be_reviewed_after_it_and_mention_it():
    body = "# 医疗救助\n\n## 是什么\n医疗救助在医保报销后再帮困难群众减轻负担。\n"
    text = document(title="医疗救助怎么申请", body=body)
    [finding] = check(text)
    assert (finding.kind, finding.line) == ("new-law", 2)
    assert "《中华人民共和国医疗保障法》" in finding.message and "2027-01-01 起施行" in finding.message
    # Reviewed before the law was adopted: it cannot have been checked against it, mention or not.
    mentions = body + "\n《医疗保障法》2027年1月1日起施行后，医疗救助仍按有关法规执行。\n"
    [early] = check(document(title="医疗救助怎么申请", body=mentions, reviewed="2026-08-01"))
    assert (early.kind, early.line) == ("new-law", 4)
    assert check(document(title="医疗救助怎么申请", body=mentions)) == []
    checked = document(title="医疗救助怎么申请", body=body, extra="supersedes_checked: [中华人民共和国医疗保障法]\n")
    assert check(checked) == []
    # Before the law existed nobody could cite it.
    assert check(document(title="医疗救助怎么申请", body=body, reviewed="2026-05-01"), today=date(2026, 8, 1)) == []


def test_a_neighbouring_topic_in_a_heading_does_not_make_a_document_about_it():
    body = CLEAN_BODY + "\n## 低保家庭能不能同时领\n可以，两项待遇不冲突。\n"
    assert check(document(body=body)) == []


# -- figures ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "sentence, figure",
    [
        ("长护险基金支付约70%。", "70%"),
        ("每人每月补贴300元。", "300元"),
        ("公示期为7天。", "7天"),
        ("受理后30个工作日内办结。", "30个工作日"),
        ("失能状态持续6个月以上。", "6个月"),
        ("年满六十周岁的老人可以申请。", "六十周岁"),
        ("收到决定之日起60日内可以申请复议。", "60日"),
        ("断保超过1年的要另加等待期。", "1年"),
    ],
)
def test_a_figure_without_citation_or_hedge_is_reported_at_its_line(sentence: str, figure: str):
    body = CLEAN_BODY + f"\n## 其他\n第一句没有数字。\n{sentence}\n"
    text = document(body=body)
    [finding] = check(text)
    assert (finding.kind, finding.line) == ("figure", body_line(text, sentence))
    assert finding.message == (
        f"第{finding.line}行：数字“{figure}”所在段落没有来源（如“（依据：《某法》第几条，2026年）”）或“以当地…为准”说明"
    )


@pytest.mark.parametrize(
    "paragraph",
    [
        "公示期为7天（依据：《最低生活保障审核确认办法》第十五条，2021年）。",
        "公示期为7天（来源：广东省民政厅通知，2024年）。",
        "公示期一般为7天，以当地民政部门公布为准。",
        "公示期一般为7天，各地标准不同。",
        "新法从2026年7月1日起施行，2027年起全面推行。",
    ],
)
def test_citations_hedges_and_calendar_dates_pass(paragraph: str):
    assert check(document(body=CLEAN_BODY + f"\n## 其他\n{paragraph}\n")) == []


def test_a_citation_needs_a_year_and_separate_list_items_need_their_own():
    assert [f.kind for f in check(document(body=CLEAN_BODY + "\n公示期为7天（依据：民政部规定）。\n"))] == ["figure"]
    loose = CLEAN_BODY + "\n- 集中供养每月2295元；\n\n- 散居每月1484元（来源：广东省民政厅通知，2024年）。\n"
    [finding] = check(document(body=loose))
    assert "2295元" in finding.message and "1484元" not in finding.message


# -- links ---------------------------------------------------------------------------------------------------
def test_broken_internal_links_are_reported(tmp_path: Path):
    body = CLEAN_BODY + (
        "\n## 相关\n见 [低保条件](../dibao/tiaojian.md) 和 [旧地址](/docs/old/name.md)，"
        "还有 /docs/dibao/tiaojian.md#谁可以 与 [官网](https://www.gov.cn/)。\n"
        "[不存在](../dibao/nope.md) 以及 /docs/dibao/missing.md\n"
    )
    write(tmp_path, "yanglao/gaoling.md", document(body=body))
    write(tmp_path, "dibao/tiaojian.md", document(extra="aliases: [old/name.md]\n"))
    report = check_tree(tmp_path, TODAY, REGULATIONS)
    findings = [f for f in report.findings if f.path == "yanglao/gaoling.md"]
    line = body_line(document(body=body), "[不存在]")
    assert [(f.kind, f.line) for f in findings] == [("link", line), ("link", line)]
    assert {f.message.split("“")[1].split("”")[0] for f in findings} == {"../dibao/nope.md", "/docs/dibao/missing.md"}


# -- aliases ---------------------------------------------------------------------------------------------------
def test_duplicate_and_conflicting_aliases(tmp_path: Path):
    write(tmp_path, "a/one.md", document(extra="aliases: [old/shared.md, a/two.md]\n"))
    write(tmp_path, "a/two.md", document(extra="aliases: [old/shared.md, a/two.md, ../outside.md]\n"))
    write(tmp_path, "a/three.md", document(extra="aliases: [old/mine.md, old/mine.md]\n"))
    report = check_tree(tmp_path, TODAY, REGULATIONS)
    found = sorted((f.path, f.message.split("：", 1)[1]) for f in report.findings)
    assert all(f.kind == "alias" and f.line == 11 for f in report.findings)
    assert found == sorted(
        [
            ("a/one.md", "别名“old/shared.md”重复：a/two.md 也用了这个别名，旧链接只能打开其中一篇"),
            ("a/two.md", "别名“old/shared.md”重复：a/one.md 也用了这个别名，旧链接只能打开其中一篇"),
            ("a/one.md", "别名“a/two.md”是另一篇现有文档的路径，访问时会打开那篇文档而不是本文"),
            ("a/two.md", "别名“a/two.md”就是本文自己的路径"),
            ("a/two.md", "别名“../outside.md”应为知识库内的文档路径，如 dibao/old-name.md"),
            ("a/three.md", "别名“old/mine.md”在本文中写了不止一次"),
        ]
    )


# -- the regulations data file --------------------------------------------------------------------------------
def test_the_shipped_regulations_file_knows_the_social_assistance_law_and_the_medical_security_law():
    by_name = {r.name: r for r in load_regulations()}
    old = by_name["社会救助暂行办法"]
    assert old.replaced_by == "中华人民共和国社会救助法"
    assert by_name[old.replaced_by].effective == date(2026, 7, 1)
    medical = by_name["中华人民共和国医疗保障法"]
    assert (medical.issued, medical.effective) == (date(2026, 8, 28), date(2027, 1, 1))
    assert "医疗救助" in medical.subjects


@pytest.mark.parametrize(
    "row, error",
    [
        ("只有一列", ":3: 每行应有 6 列"),
        ("甲\t\t2026-13-01\t\t\t", ":3: 公布日期“2026-13-01”应为 YYYY-MM-DD"),
        ("甲\t\t\t\t乙\t", ":3: 取代它的“乙”没有在本文件中列出"),
        ("甲\t\t\t\t\t主题", ":3: 列了主题词的法律要写公布日期"),
        ("社会救助暂行办法\t\t\t\t\t", ":3: “社会救助暂行办法”在第2行已经出现过"),
    ],
)
def test_errors_in_the_regulations_file_name_file_and_line(tmp_path: Path, row: str, error: str):
    path = tmp_path / "regulations.tsv"
    path.write_text(f"# comment\n社会救助暂行办法\t\t\t\t\t\n{row}\n", encoding="utf-8")
    with pytest.raises(RegulationsError) as caught:
        load_regulations(path)
    assert f"{path}{error}" in str(caught.value)


# -- the command line -------------------------------------------------------------------------------------------
def run_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHEGONG_")}
    env["SHEGONG_DATA_DIR"] = str(cwd / "data")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    env["PYTHONIOENCODING"] = "utf-8"
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "kb", "check", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        cwd=cwd,
        timeout=90,
        check=False,
    )


def test_cli_exit_codes_lines_summary_and_json(tmp_path: Path):
    kb = tmp_path / "kb"
    write(kb, "yanglao/gaoling.md", document())
    clean = run_cli(tmp_path, "kb", "--today", "2026-12-02")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert clean.stdout.strip() == "共检查 1 篇文档，没有发现问题。"

    stale = run_cli(tmp_path, "kb", "--today", "2027-12-31")
    assert stale.returncode == 1
    first, summary = stale.stdout.strip().splitlines()
    assert first.startswith("kb/yanglao/gaoling.md:4: 第4行：最近核对日期 2026-11-30 已超过一年")
    assert summary == "共检查 1 篇文档，发现 1 个问题（核对日期 1）。"

    write(kb, "dibao/bad.md", "# 没有开头信息\n\n补贴每月300元。\n")
    report = run_cli(tmp_path, "kb", "--json", "--today", "2026-12-02")
    assert report.returncode == 1
    obj = json.loads(report.stdout)
    assert obj["documents"] == 2
    assert obj["counts"] == {"front-matter": 1, "figure": 1}
    assert {(f["path"], f["line"], f["kind"]) for f in obj["findings"]} == {
        ("dibao/bad.md", 1, "front-matter"),
        ("dibao/bad.md", 3, "figure"),
    }
    assert all(f["file"] == "kb/dibao/bad.md" for f in obj["findings"])

    # The check could not run: neither "clean" nor "findings".
    bad_date = run_cli(tmp_path, "kb", "--today", "2026-02-30")
    assert bad_date.returncode == 2 and "YYYY-MM-DD" in bad_date.stderr
    missing = run_cli(tmp_path, "missing")
    assert missing.returncode == 2 and "找不到知识库目录" in missing.stderr


def test_cli_checks_the_built_in_documents_by_default(tmp_path: Path):
    result = run_cli(tmp_path, "--json")
    assert result.returncode in (0, 1), result.stderr
    obj = json.loads(result.stdout)
    assert obj["documents"] >= 33
    assert result.returncode == (1 if obj["findings"] else 0)
