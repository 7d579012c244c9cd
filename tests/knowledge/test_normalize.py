"""Normalisation and tokenisation: script, width, dialect, aliases, typos and the domain dictionary."""

from __future__ import annotations

import re

import pytest

from knowledge.engine.normalize import fold
from knowledge.engine.tables import TableError, TermTables
from knowledge.engine.tokenize import Analyzer


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer(TermTables.load())


def words(analyzer: Analyzer, text: str, *, question: bool = True) -> list[str]:
    return (analyzer.question(text) if question else analyzer.document(text)).words


# -- script and width ------------------------------------------------------------------------
def test_traditional_question_matches_simplified_terms(analyzer):
    assert "适老化改造" in words(analyzer, "適老化改造點申請")
    assert words(analyzer, "殘疾人證") == words(analyzer, "残疾人证")
    assert words(analyzer, "長者飯堂喺邊度") == words(analyzer, "长者饭堂在哪里")


def test_full_width_characters_are_folded():
    assert fold("ＡＢＣ１２３？（低保）") == "abc123?(低保)"
    assert fold("Ｄｉｂａｏ") == "dibao"


def test_full_width_digits_match_ascii_digits(analyzer):
    assert words(analyzer, "拨打１２３４５热线") == words(analyzer, "拨打12345热线")


# -- Cantonese and colloquial words ----------------------------------------------------------
@pytest.mark.parametrize(
    ("cantonese", "mandarin"),
    [
        ("边度", "哪里"),
        ("冇", "没有"),
        ("屋企", "家"),
        ("几耐", "多久"),
        ("点样", "怎么"),
        ("系咪", "是不是"),
        ("乜嘢", "什么"),
        ("揾", "找"),
    ],
)
def test_cantonese_words_are_mapped(analyzer, cantonese, mandarin):
    assert analyzer.normalize_question(cantonese) == mandarin
    assert analyzer.normalizer.document(cantonese) == mandarin


def test_cantonese_sentence_tokenises_like_its_mandarin_version(analyzer):
    assert words(analyzer, "屋企冇人照顾老人，可以揾边个帮手") == words(analyzer, "家没有人照顾老人，可以找谁帮忙")


# -- aliases (synonyms) ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("alias", "canonical"),
    [("五保户", "特困人员"), ("残补", "残疾人两项补贴"), ("老人饭堂", "长者饭堂"), ("三无老人", "特困人员")],
)
def test_aliases_fold_to_canonical_term_in_questions_and_documents(analyzer, alias, canonical):
    assert words(analyzer, f"{alias}怎么申请") == words(analyzer, f"{canonical}怎么申请")
    assert words(analyzer, f"关于{alias}的规定", question=False) == words(
        analyzer, f"关于{canonical}的规定", question=False
    )
    assert canonical in words(analyzer, alias)
    assert canonical in words(analyzer, alias, question=False)


def test_alias_inside_a_longer_canonical_term_is_not_rewritten(analyzer):
    # 长者 is an alias of 老人, but 长者饭堂 is itself a canonical term and must stay whole.
    assert words(analyzer, "长者饭堂") == ["长者饭堂"]
    assert words(analyzer, "长者饭堂", question=False) == ["长者饭堂"]


# -- typos -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("抵保怎么申请", "低保"),
        ("底保", "低保"),
        ("残急人证", "残疾人证"),
        ("残急人", "残疾人"),
        ("特困人圆", "特困人员"),
        ("留守儿同", "留守儿童"),
        ("高龄金贴", "高龄津贴"),
    ],
)
def test_typos_of_policy_terms_are_corrected(analyzer, typed, meant):
    assert meant in words(analyzer, typed)


@pytest.mark.parametrize(
    ("typed", "meant"),
    [("低保办事员态度很差怎么投述", "投诉"), ("不服低保决定多久内可以起述", "起诉"), ("有存款能申亲低保吗", "申请"),
     ("长期护里险去哪里申请", "长期护理保险")],
)
def test_typos_as_guangdong_speakers_blur_sounds_are_corrected(analyzer, typed, meant):
    # zh/ch/sh typed as z/c/s and -ng as -n: 投述 (tou shu) is 投诉 (tou su).
    assert meant in words(analyzer, typed)


def test_a_typo_that_is_a_word_no_document_uses_is_corrected(builtin_kb):
    assert "分散供养" in builtin_kb.analyzer.question("分散共养是什么意思").words
    # Alone, the same word is not a policy term's typo: it stays.
    assert builtin_kb.analyzer.question("共养一只猫").words[0] == "共养"


@pytest.mark.parametrize("sentence", ["帮人担保要负责吗", "我想买份保险", "保险公司理赔", "地堡"])
def test_real_words_are_not_corrected(analyzer, sentence):
    assert analyzer.normalize_question(sentence) == fold(sentence)
    assert not {"低保", "特困", "残疾人"} & set(words(analyzer, sentence))


@pytest.mark.parametrize(
    ("sentence", "kept"),
    [
        ("当地保险怎么买", "当地保险"),
        ("到底保唔保险", "到底"),
        ("本地保障政策", "本地保障"),
        ("公司有什么独特因素", "独特因素"),
    ],
)
def test_typo_table_does_not_break_real_words_across_boundaries(analyzer, sentence, kept):
    assert kept in analyzer.normalize_question(sentence)
    assert kept in analyzer.normalizer.document(sentence)
    assert not {"低保", "特困"} & set(words(analyzer, sentence))


# -- domain dictionary -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "term", ["低保边缘家庭", "残疾人两项补贴", "事实无人抚养儿童", "重度残疾人护理补贴", "适老化改造", "镇街社工站"]
)
def test_domain_terms_are_single_tokens(analyzer, term):
    assert term in words(analyzer, f"请问{term}有什么规定")
    assert term in words(analyzer, f"关于{term}的规定。", question=False)


def test_stopwords_and_punctuation_are_dropped(analyzer):
    tokens = analyzer.question("请问，我想问一下：低保的标准是多少？？")
    assert "低保标准" in tokens.words  # 的 inside a policy term is dropped: 低保的标准 is 低保标准
    assert not {"请问", "我", "想", "问", "一下", "的", "是"} & set(tokens.words)
    assert all(w.strip() and not re.search(r"[，：？?,:]", w) for w in tokens.words)
    assert all(len(b) == 2 for b in tokens.bigrams)
    assert "低保" in tokens.bigrams
    assert not any(ch in "".join(tokens.bigrams) for ch in "，：？?")


# -- administrator data files ----------------------------------------------------------------
def test_bad_table_line_names_file_and_line(tmp_path):
    bad = tmp_path / "synonyms.tsv"
    bad.write_text("# 注释行\n关爱金\t高龄津贴\n这一行 用空格 分隔\n", encoding="utf-8")
    with pytest.raises(TableError) as exc:
        TermTables.load(tmp_path)
    message = str(exc.value)
    assert str(bad) in message
    assert ":3:" in message
    assert "这一行" in message


def test_conflicting_mapping_in_one_file_is_reported(tmp_path):
    bad = tmp_path / "typos.tsv"
    bad.write_text("低饱\t低保\n低饱\t低保金\n", encoding="utf-8")
    with pytest.raises(TableError) as exc:
        TermTables.load(tmp_path)
    assert f"{bad}:2:" in str(exc.value)


def test_non_utf8_table_is_reported(tmp_path):
    bad = tmp_path / "dialect.tsv"
    bad.write_bytes("边度\t哪里\n".encode("gbk"))
    with pytest.raises(TableError) as exc:
        TermTables.load(tmp_path)
    assert str(bad) in str(exc.value)


def test_extra_table_dir_adds_entries(tmp_path):
    (tmp_path / "synonyms.tsv").write_text("关爱金\t高龄津贴\n", encoding="utf-8")
    (tmp_path / "dialect.tsv").write_text("乜水\t谁\n", encoding="utf-8")
    (tmp_path / "domain_dict.txt").write_text("助浴服务\n", encoding="utf-8")
    (tmp_path / "cities.tsv").write_text("佛山市\t禅城\n", encoding="utf-8")
    builtin = TermTables.load()
    tables = TermTables.load(tmp_path)
    # Built-in entries are kept, new ones added.
    assert tables.synonyms["五保户"] == "特困人员"
    assert tables.synonyms["关爱金"] == "高龄津贴" and "关爱金" not in builtin.synonyms
    assert "助浴服务" in tables.domain_terms and "助浴服务" not in builtin.domain_terms
    assert tables.cities["禅城"] == "佛山市"
    extra = Analyzer(tables)
    assert "高龄津贴" in extra.question("关爱金点领").words
    assert "助浴服务" in extra.question("有冇助浴服务").words
    assert extra.normalize_question("乜水") == "谁"
    # ...while the default tables know nothing of them.
    plain = Analyzer(builtin)
    assert "高龄津贴" not in plain.question("关爱金点领").words


def test_extra_tables_change_search_results(tmp_path):
    from knowledge import KnowledgeBase
    from knowledge.ingest import parse_document

    doc = parse_document(
        "gaoling.md", "---\ntitle: 高龄津贴\n---\n# 高龄津贴\n\n年满八十周岁的老人每月可以领取高龄津贴。\n".encode()
    )
    other = parse_document(
        "canji.md", "---\ntitle: 残疾人证\n---\n# 残疾人证\n\n办理残疾人证要先到指定医院评残。\n".encode()
    )
    (tmp_path / "synonyms.tsv").write_text("关爱金\t高龄津贴\n", encoding="utf-8")
    plain = KnowledgeBase([doc, other], TermTables.load())
    extended = KnowledgeBase([doc, other], TermTables.load(tmp_path))
    assert not plain.answer("关爱金点领").confident
    answer = extended.answer("关爱金点领")
    assert answer.confident
    assert answer.sources[0].path == "gaoling.md"
