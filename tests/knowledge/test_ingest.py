"""Ingestion: Markdown with front matter, plain text, messy web HTML, encodings and whole folders."""

from __future__ import annotations

import random
import re

import pytest
from knowledge_test_helpers import markdown, write

from knowledge import IngestError
from knowledge.html import extract_article
from knowledge.ingest import load_tree, parse_document

MAX_PASSAGE = 450
SENTENCE_ENDS = "。！？；!?;"


# -- Markdown --------------------------------------------------------------------------------
POLICY_MD = markdown(
    "长者助餐补贴怎么领",
    """
# 长者助餐服务

## 谁可以享受
本区户籍、年满六十周岁的老人，都可以到就近的助餐点用餐。

### 补贴标准
困难老人每餐补贴五元，其他老人每餐补贴二元。

## 怎么办理
带上身份证到所在社区的助餐点登记，当场就能办好。
""",
    source="某区民政局助餐服务指引",
    year="2022",
    region="佛山市",
)


def test_front_matter_fields_are_parsed():
    doc = parse_document("yanglao/zhucan.md", POLICY_MD.encode())
    assert doc.title == "长者助餐补贴怎么领"
    assert doc.source == "某区民政局助餐服务指引"
    assert doc.year == "2022"
    assert doc.region == "佛山市"
    # The front matter is metadata, not body text.
    assert "title:" not in doc.body and "---" not in doc.body
    assert doc.body.startswith("# 长者助餐服务")


def test_front_matter_values_may_be_quoted():
    text = "---\ntitle: \"用引号括起来的标题\"\nyear: '2020'\n---\n正文内容有足够多的文字，可以作为一个段落。\n"
    doc = parse_document("q.md", text.encode())
    assert doc.title == "用引号括起来的标题"
    assert doc.year == "2020"


def test_markdown_without_front_matter_takes_title_from_first_heading_then_file_name():
    doc = parse_document("a/b.md", "# 第一个标题\n\n这是正文的第一段，写得足够长一些。\n".encode())
    assert doc.title == "第一个标题"
    assert (doc.source, doc.year, doc.region) == ("", "", "")
    doc = parse_document("a/no-heading.md", "没有任何标题的一段正文，写得足够长一些。\n".encode())
    assert doc.title == "no-heading"


def test_passages_carry_document_metadata_and_heading_path():
    doc = parse_document("yanglao/zhucan.md", POLICY_MD.encode())
    assert doc.passages, "a document with body text must have passages"
    for n, p in enumerate(doc.passages):
        assert p.number == n
        assert p.path == "yanglao/zhucan.md"
        assert p.doc is doc
        assert (p.doc.title, p.doc.source, p.doc.year, p.doc.region) == (
            "长者助餐补贴怎么领",
            "某区民政局助餐服务指引",
            "2022",
            "佛山市",
        )
    by_text = {p.text: p.headings for p in doc.passages}
    who = next(t for t in by_text if "年满六十周岁" in t)
    rate = next(t for t in by_text if "每餐补贴五元" in t)
    how = next(t for t in by_text if "带上身份证" in t)
    assert by_text[who] == ("长者助餐服务", "谁可以享受")
    assert by_text[rate] == ("长者助餐服务", "谁可以享受", "补贴标准")
    # A heading of the same level replaces the previous one; deeper ones are dropped.
    assert by_text[how] == ("长者助餐服务", "怎么办理")
    # Headings are structure, not passage text.
    assert not any(t.lstrip().startswith("#") for t in by_text)


def _long_paragraph(sentences: int) -> str:
    return "".join(
        f"第{i}条规定，申请人应当如实提供家庭人口、收入和财产情况，并配合镇街工作人员入户调查核实。"
        for i in range(1, sentences + 1)
    )


def test_long_paragraph_is_split_at_sentence_ends():
    para = _long_paragraph(25)
    assert len(para) > 1000
    doc = parse_document("long.md", markdown("长段落", f"# 规定\n\n{para}").encode())
    texts = [p.text for p in doc.passages]
    assert len(texts) >= 3
    for t in texts:
        assert len(t) <= MAX_PASSAGE, f"passage of {len(t)} chars"
        assert t[-1] in SENTENCE_ENDS, f"passage cut mid-sentence: …{t[-15:]!r}"
    # Nothing lost, nothing duplicated, order kept.
    assert "".join(t.replace("\n", "") for t in texts) == para
    assert all(p.headings == ("规定",) for p in doc.passages)


def test_short_paragraphs_are_not_split():
    para = _long_paragraph(3)
    doc = parse_document("short.md", markdown("短段落", f"# 规定\n\n{para}").encode())
    assert [p.text for p in doc.passages] == [para]


def test_run_on_paragraph_without_sentence_ends_is_still_bounded():
    runon = "，".join(f"第{i}项说明社会救助申请中的注意事项" for i in range(60)) + "。"
    assert len(runon) > 1000
    doc = parse_document("runon.md", f"# 注意事项\n\n{runon}".encode())
    assert max(len(p.text) for p in doc.passages) <= MAX_PASSAGE


def test_list_items_stay_together_with_their_lead_in():
    body = """
# 低保申请

## 需要的材料
申请时要准备下面这些材料：
1. 申请书；
2. 全体家庭成员的身份证和户口簿；

3. 家庭经济状况核对授权书；
4. 残疾人证或者病历等证明。

## 去哪里办
到户籍所在地的镇政府或者街道办事处提交。
"""
    doc = parse_document("list.md", markdown("材料清单", body).encode())
    holding = [p for p in doc.passages if "申请书" in p.text]
    assert len(holding) == 1
    text = holding[0].text
    for item in ("申请时要准备", "1. 申请书", "2. 全体家庭成员", "3. 家庭经济状况核对授权书", "4. 残疾人证"):
        assert item in text
    # Items keep their own lines, so the answer still reads as a list.
    assert "\n2. " in text and "\n4. " in text
    assert holding[0].headings == ("低保申请", "需要的材料")
    assert "镇政府" not in text


# -- plain text ------------------------------------------------------------------------------
def test_txt_title_is_first_short_line():
    text = "\n\n临时救助办理须知\n\n遇到突发事件、意外伤害导致基本生活暂时困难的家庭，可以申请临时救助。\n"
    doc = parse_document("linshi/xuzhi.txt", text.encode())
    assert doc.title == "临时救助办理须知"
    assert not doc.body.startswith("临时救助办理须知")
    assert "可以申请临时救助" in doc.body
    assert doc.passages and doc.passages[0].text.startswith("遇到突发事件")


def test_txt_long_or_sentence_first_line_is_not_a_title():
    sentence_first = "遇到突发事件导致生活困难的家庭可以申请临时救助。\n第二行内容也比较长一些。\n"
    doc = parse_document("linshi/first-sentence.txt", sentence_first.encode())
    assert doc.title == "first-sentence"
    assert doc.body.startswith("遇到突发事件")
    long_first = "这一行非常长" * 10 + "\n下一行\n"
    assert parse_document("long-first.txt", long_first.encode()).title == "long-first"


# -- HTML ------------------------------------------------------------------------------------
def test_seed_forum_page_is_cleaned(seed_page):
    # The seed is a saved forum page (HTML inside a .txt); ingest it as the HTML it is.
    doc = parse_document("seed/shuangbai.html", seed_page)
    body = doc.body
    assert doc.title.strip()
    assert "<" not in body and ">" not in body
    assert "style=" not in body
    assert not re.search(r"https?://", body)
    assert "135editor" not in body.lower() and "135编辑器" not in body
    # Page chrome and credits are gone.
    for chrome in ("查看完整版本", "页: [1]", "责编", "制作:谢霄", "发表于"):
        assert chrome not in body, chrome
    # The article itself is kept, paragraph by paragraph.
    assert "2022年底前建成1611个镇(街)社工站" in body
    assert "省财政将对经济欠发达地区给予适当补助" in body
    assert "社工站将从试点的407个增加到1611个" in body
    # Section titles (bold editor text) become "#" heading lines.
    heading_lines = [ln for ln in body.splitlines() if ln.startswith("#")]
    assert any("规划14.58亿元资金" in ln for ln in heading_lines)
    assert any("四级支持管理体系" in ln for ln in heading_lines)
    assert doc.year == "2021"
    # And they reach the passages as heading paths.
    p = next(p for p in doc.passages if "1611个镇(街)社工站" in p.text)
    assert any("统筹社工站建设" in h for h in p.headings)


SYNTHETIC_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>长者助餐服务说明 - 某区民政局网站</title>
<style>.article{color:#333} body{font-size:14px}</style>
<script>var tracker = "统计代码"; function go(){ return 1 < 2; }</script></head>
<body>
<header><div class="logo">某区民政局门户</div></header>
<nav><ul><li><a href="/">首页</a></li><li><a href="/news">新闻中心</a></li><li>办事大厅</li></ul></nav>
<div id="main"><article>
<h1>长者助餐服务说明</h1>
<p>本区为六十岁以上的老人提供助餐服务，老人可以到就近的助餐点用餐。</p>
<h2>收费标准</h2>
<p>每餐价格由助餐点公示，困难老人按规定享受减免。</p>
<p>具体减免比例请向所在街道咨询。</p>
<p><img src="https://example.invalid/a.png"></p>
</article>
<div class="share-bar">分享到：微信 微博 QQ空间</div>
</div>
<footer><p>版权所有 某区民政局 联系电话 020-12345678</p></footer>
<script>console.log("页面脚本")</script>
</body></html>"""


def test_synthetic_page_keeps_only_the_article():
    doc = parse_document("zhucan.html", SYNTHETIC_PAGE.encode())
    assert doc.title == "长者助餐服务说明"
    lines = [ln for ln in doc.body.splitlines() if ln.strip()]
    assert lines == [
        "本区为六十岁以上的老人提供助餐服务，老人可以到就近的助餐点用餐。",
        "## 收费标准",
        "每餐价格由助餐点公示，困难老人按规定享受减免。",
        "具体减免比例请向所在街道咨询。",
    ]
    assert [p.headings for p in doc.passages] == [(), ("收费标准",)]


def test_extract_article_reads_source_and_year_lines():
    page = (
        "<html><body><h1>冬季送温暖活动</h1><p>来源：某镇社工站</p><p>2023-01-05 10:00</p>"
        "<p>社工为辖区独居老人送去棉被和取暖用品，并提醒注意用电安全。</p></body></html>"
    )
    article = extract_article(page)
    assert article.title == "冬季送温暖活动"
    assert article.source == "某镇社工站"
    assert article.year == "2023"
    assert "来源" not in article.text
    assert "棉被和取暖用品" in article.text


def test_html_without_article_text_is_rejected():
    page = (
        "<html><head><title>首页</title><script>var a='很多很多的脚本文字内容在这里';</script></head><body>"
        "<nav><a href='/'>首页</a><a href='/x'>新闻中心新闻中心新闻中心</a></nav>"
        "<div class='share-bar'>分享到：微信 微博 QQ空间 豆瓣 知乎</div>"
        "<footer>版权所有 某某网站 保留所有权利 联系我们</footer></body></html>"
    )
    with pytest.raises(IngestError) as exc:
        parse_document("empty.html", page.encode())
    assert re.search(r"[\u4e00-\u9fff]", str(exc.value))


# -- encodings and bad files -----------------------------------------------------------------
def test_binary_file_is_rejected_with_chinese_message():
    raw = b"%PDF-1.7\n" + bytes(range(256)) * 8
    with pytest.raises(IngestError) as exc:
        parse_document("scan.md", raw)
    message = str(exc.value)
    assert "二进制" in message


def test_gbk_file_is_decoded():
    text = "# 特困人员认定\n\n无劳动能力、无生活来源、无法定赡养抚养扶养义务人的老年人，可以认定为特困人员。\n"
    doc = parse_document("tekun.md", text.encode("gbk"))
    assert doc.title == "特困人员认定"
    assert "无法定赡养抚养扶养义务人" in doc.body
    txt = parse_document("tekun.txt", ("特困人员认定\n" + text[10:]).encode("gbk"))
    assert txt.title == "特困人员认定"


def test_utf8_bom_and_crlf_are_handled():
    raw = "\ufeff---\r\ntitle: 带BOM的文档\r\n---\r\n# 标题\r\n\r\n正文第一段写在这里，内容足够长。\r\n".encode()
    doc = parse_document("bom.md", raw)
    assert doc.title == "带BOM的文档"
    assert "\r" not in doc.body


def test_random_bytes_are_rejected():
    rng = random.Random(20240501)
    raw = bytes(rng.randrange(1, 256) for _ in range(4000))  # no NUL: not caught as binary
    with pytest.raises(IngestError) as exc:
        parse_document("garbage.txt", raw)
    assert "编码" in str(exc.value)


def test_double_encoded_utf8_mojibake_is_rejected():
    original = "申请低保需要准备身份证、户口簿和家庭经济状况核对授权书。" * 20
    mojibake = original.encode("utf-8").decode("latin-1").encode("utf-8")
    with pytest.raises(IngestError):
        parse_document("mojibake.txt", mojibake)


def test_empty_and_unsupported_files_are_rejected():
    with pytest.raises(IngestError):
        parse_document("empty.md", b"---\ntitle: x\n---\n\n")
    with pytest.raises(IngestError) as exc:
        parse_document("form.docx", b"PK\x03\x04 not really a docx")
    assert "不支持" in str(exc.value)


# -- folders ---------------------------------------------------------------------------------
def test_load_tree_reports_duplicates_and_unsupported_files(tmp_path):
    policy = markdown("临时救助", "# 临时救助\n\n遇到突发困难的家庭可以向镇街申请临时救助，急难情况可以先行救助。")
    write(tmp_path, "a/linshi.md", policy)
    # Same content, different spacing, under another path.
    write(tmp_path, "b/linshi-copy.md", policy.replace("，", "， ").replace("\n\n", "\n\n\n"))
    write(
        tmp_path,
        "c/other.md",
        markdown("医疗救助", "# 医疗救助\n\n低保对象住院，医保报销后的个人负担部分可以申请医疗救助。"),
    )
    write(tmp_path, "c/scan.pdf", "%PDF-1.4 fake")
    write(tmp_path, "c/broken.md", "\x00\x01\x02 binary")
    write(tmp_path, ".hidden/secret.md", markdown("隐藏", "# 隐藏\n\n隐藏目录里的文件不应该被收录进知识库。"))

    report = load_tree(tmp_path)

    assert sorted(d.path for d in report.documents) == ["a/linshi.md", "c/other.md"]
    skipped = dict(report.skipped)
    assert set(skipped) == {"b/linshi-copy.md", "c/scan.pdf", "c/broken.md"}
    assert "a/linshi.md" in skipped["b/linshi-copy.md"]
    assert "不支持" in skipped["c/scan.pdf"]
    assert "二进制" in skipped["c/broken.md"]
    for reason in skipped.values():
        assert re.search(r"[\u4e00-\u9fff]", reason), reason


def test_load_tree_paths_are_relative_and_posix(tmp_path):
    write(tmp_path, "x/y/z.md", markdown("深层目录", "# 深层\n\n放在多层目录里的文档，路径用斜杠分隔并相对于根目录。"))
    report = load_tree(tmp_path)
    assert [d.path for d in report.documents] == ["x/y/z.md"]
    single = load_tree(tmp_path / "x" / "y" / "z.md")
    assert [d.path for d in single.documents] == ["z.md"]


def test_builtin_documents_all_ingest_with_metadata():
    from knowledge.kb import BUILTIN_DOCS

    report = load_tree(BUILTIN_DOCS)
    files = [p for p in BUILTIN_DOCS.rglob("*") if p.is_file() and not p.name.startswith(".")]
    assert report.skipped == []
    assert len(report.documents) == len(files) >= 30
    for doc in report.documents:
        assert doc.title and doc.source and doc.year and doc.region, doc.path
        assert doc.passages, doc.path
        assert max(len(p.text) for p in doc.passages) <= MAX_PASSAGE, doc.path
