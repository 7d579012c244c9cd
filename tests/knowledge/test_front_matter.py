"""Front matter of contract A (sources, reviewed, aliases) and the older source/year keys, read with YAML."""

from __future__ import annotations

from datetime import date

from knowledge.ingest import Source, parse_document, parse_front_matter, read_front_matter

BODY = "# 低保\n\n## 怎么申请\n向户籍所在地的镇街提出书面申请，材料齐全的当场受理。\n"
NEW_STYLE = """---
title: 低保怎么申请
region: 广东省            # a comment, as in the contract's example
reviewed: 2026-12-02
sources:
  - title: 中华人民共和国社会救助法
    issuer: 全国人民代表大会常务委员会
    number: ""
    date: 2026-04-30
    url: https://flk.npc.gov.cn/
  - title: 《最低生活保障审核确认办法》
    issuer: 民政部
    number: 民发〔2021〕57号
    date: 2021-06
aliases: [dibao/old-name.md, /dibao/older.md]
supersedes_checked: [社会救助暂行办法]
---
""" + BODY


def test_sources_reviewed_and_aliases_are_read():
    doc = parse_document("dibao/shenqing.md", NEW_STYLE.encode())
    assert doc.title == "低保怎么申请"
    assert doc.region == "广东省"
    assert doc.reviewed == date(2026, 12, 2)
    assert doc.sources == (
        Source("中华人民共和国社会救助法", "全国人民代表大会常务委员会", "", "2026-04-30", "https://flk.npc.gov.cn/"),
        Source("《最低生活保障审核确认办法》", "民政部", "民发〔2021〕57号", "2021-06", ""),
    )
    assert doc.aliases == ("dibao/old-name.md", "dibao/older.md")
    assert doc.body.startswith("# 低保") and "sources" not in doc.body


def test_a_citation_names_the_sources_and_their_latest_year_when_no_free_text_source_is_given():
    doc = parse_document("dibao/shenqing.md", NEW_STYLE.encode())
    assert doc.source == "《中华人民共和国社会救助法》；《最低生活保障审核确认办法》"
    assert doc.year == "2026"
    assert doc.citation() == "《低保怎么申请》，《中华人民共和国社会救助法》；《最低生活保障审核确认办法》，2026年"


def test_a_long_source_list_is_shortened_in_the_citation_line():
    entries = "".join(f"  - title: 文件{n}\n    issuer: 民政部\n    date: 20{10 + n}\n" for n in range(4))
    doc = parse_document("a.md", f"---\ntitle: 标题\nsources:\n{entries}---\n{BODY}".encode())
    assert len(doc.sources) == 4
    assert doc.source == "《文件0》；《文件1》等"
    assert doc.year == "2013"


def test_scalars_stay_as_written():
    text = "---\ntitle: 2024\nyear: 2021\nreviewed: 2026-02-30\nsources:\n  - title: 令\n    number: 649\n---\n" + BODY
    doc = parse_document("a.md", text.encode())
    assert (doc.title, doc.year) == ("2024", "2021")
    assert doc.sources[0].number == "649"
    assert doc.reviewed is None  # not a real day


def test_unusable_source_entries_and_non_web_urls_are_left_out():
    text = ("---\ntitle: 标题\nsources:\n  - 只是一段文字\n  - issuer: 没有标题\n"
            "  - title: 有标题\n    url: javascript:alert(1)\n---\n") + BODY
    doc = parse_document("a.md", text.encode())
    assert doc.sources == (Source("有标题"),)


def test_old_style_front_matter_still_reads_and_front_matter_that_is_not_yaml_falls_back_to_lines():
    old = "---\ntitle: 旧格式: 标题里有冒号\nsource: 某市民政局指南\nyear: 2019\n---\n" + BODY
    doc = parse_document("old.md", old.encode())
    assert (doc.title, doc.source, doc.year) == ("旧格式: 标题里有冒号", "某市民政局指南", "2019")
    front = read_front_matter(old)
    assert front.error.startswith("第2行：")
    assert parse_front_matter(old)[0]["source"] == "某市民政局指南"


def test_line_numbers_point_into_the_file():
    front = read_front_matter(NEW_STYLE)
    assert front.key_lines["title"] == 2 and front.key_lines["reviewed"] == 4
    assert [entry.line for entry in front.fields["sources"]] == [6, 11]
    assert NEW_STYLE.splitlines()[front.body_line - 1] == "# 低保"
    spaced = "---\ntitle: 标题\n---\n\n\n# 正文\n"
    assert read_front_matter(spaced).body_line == 6
    assert read_front_matter("# 没有开头信息\n").body_line == 1
