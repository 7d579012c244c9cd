"""Answers that answer the question: the asked facet's section, honest referrals outside the knowledge base,
the safety line for immediate danger, follow-ups against the conversation's topic, and the evaluation that
measures all of it (contract D)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from knowledge_test_helpers import markdown, write

from knowledge import KnowledgeBase
from knowledge.answer import NOT_SURE, NOT_WRITTEN, SHORT_CHARS
from knowledge.dialog import TOPIC_LIFETIME, Topic, answer_turn, detail_answer
from knowledge.engine.normalize import spoken_numbers
from knowledge.engine.tables import TableError, TermTables
from knowledge.evaluate import HALVES, evaluate, load_items

HINT = "\n（回复“详细”看更多内容）"
NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)

# Two documents with facet headings, written for these tests (the built-in ones change as they are reviewed).
FACET_DOCS = {
    "dibao/shenqing.md": markdown("低保怎么申请", """
# 低保申请

## 低保是什么
低保是政府按月发给收入低于当地标准的家庭的生活补助，用来保障基本生活。

## 谁可以申请
本地户籍、家庭人均收入低于当地低保标准、家庭财产符合规定的家庭，可以申请。

## 要带什么材料
申请书、全体家庭成员的身份证和户口簿、收入情况声明、经济状况核对授权书。

## 怎么申请
向户籍所在地的镇政府或街道办事处提出书面申请，镇街受理后入户调查，再公示。

## 要等多久
一般在受理后30个工作日内办完，特殊情况可以延长到45个工作日（以当地民政部门公布为准）。

## 什么情况会被停发
家庭收入超过低保标准、隐瞒收入或者不配合核查的，会被停发。
""", source="测试依据", year="2026", region="广东省"),
    "yanglao/gaoling.md": markdown("高龄津贴是什么、怎么领", """
# 高龄津贴

## 是什么
高龄津贴是政府发给高龄老人的一笔钱，多数地方从80周岁起发放。

## 能领多少
各地按年龄分档，每月几十元到几百元不等，各地标准不同。

## 怎么申请
老人带身份证、户口簿和银行卡，到户籍所在地的村（居）委会或镇街便民服务中心申请。
""", source="测试依据", year="2026", region="广东省"),
}


@pytest.fixture(scope="module")
def facet_kb(tmp_path_factory) -> KnowledgeBase:
    root = tmp_path_factory.mktemp("facet-kb")
    for rel, text in FACET_DOCS.items():
        write(root, rel, text)
    return KnowledgeBase.from_path(root)


def before_hint(text: str) -> str:
    return text.split(HINT)[0].split("\n\n📄")[0]


# -- facets: the asked section, not the first one ------------------------------------------------------------
@pytest.mark.parametrize("question, section", [
    ("低保要多长时间", "要等多久"),
    ("低保要等几耐", "要等多久"),  # Cantonese
    ("申請低保要帶甚麼材料", "要带什么材料"),  # traditional
    ("低保点样申请", "怎么申请"),
    ("咩人可以申请低保", "谁可以申请"),
    ("低保会不会被停发", "什么情况会被停发"),
    ("低保系咩嚟㗎", "低保是什么"),
    ("高龄津贴一个月有几多钱", "能领多少"),
    ("高龄津贴去边度申请", "怎么申请"),  # where to apply is told in the section on how to apply
])
def test_the_section_answering_the_asked_facet_is_shown(facet_kb, question, section):
    answer = facet_kb.answer(question)
    assert answer.confident, answer.text
    assert answer.sections == (section,), answer.text
    assert f"【{section}】" in answer.text


def test_a_question_asking_two_things_gets_both_sections_within_a_phone_screen(facet_kb):
    answer = facet_kb.answer("低保要带什么材料，要等多久")
    assert answer.sections == ("要带什么材料", "要等多久")
    assert "身份证" in answer.text and "30个工作日" in answer.text
    assert len(before_hint(answer.text)) <= SHORT_CHARS


def test_a_document_without_the_asked_facet_says_so_and_shows_what_it_has(facet_kb):
    answer = facet_kb.answer("高龄津贴会不会被停发")
    assert answer.confident
    assert answer.text.startswith(NOT_WRITTEN), answer.text
    assert "停发" in answer.text.splitlines()[0]
    assert "高龄津贴" in answer.text.split("\n", 1)[1]


def test_without_a_facet_the_answer_is_the_most_relevant_section(facet_kb):
    answer = facet_kb.answer("高龄津贴")
    assert answer.confident and answer.facets == ()
    assert answer.sections == ("是什么",)


@pytest.mark.parametrize("heading, facets", [
    ("找到工作不会马上停：渐退期", {"后果"}),  # 找到工作, not 找到 (where to go)
    ("怎样找到附近的饭堂", {"地点"}),
    ("到哪里办、带什么材料", {"地点", "材料"}),
    ("什么是两项补贴", {"是什么"}),  # a definition, not an amount because it says 补贴
    ("外出打工的父母要做什么", {"义务", "做什么"}),
    ("被停发怎么办", {"后果"}),  # 怎么办 is not how to apply
])
def test_the_longest_heading_word_decides_what_a_section_answers(builtin_kb, heading, facets):
    assert builtin_kb.facets.heading_facets(heading) == facets


@pytest.mark.parametrize("question, facet", [
    ("我阿爸82岁有冇长寿金", "条件"),  # an age asks who qualifies
    ("中度失能老人800元消费券", "金额"),
    ("双百工程是什么时候开始的", "时限"),  # not 是什么
    ("屋企有人揾到工要唔要话俾街道知", "义务"),
    ("特困人员还能领残疾人护理补贴吗", "关系"),
])
def test_what_a_question_asks(builtin_kb, question, facet):
    assert facet in builtin_kb.asked_facets(question)


def test_a_long_spoken_question_asks_what_its_asking_part_asks(builtin_kb):
    question = "就是我们村那个儿童主任前几天来我家问孩子的情况然后我想知道他们是做什么的"
    assert builtin_kb.facets.asked(*builtin_kb.question_forms(question))[0] == "时限"  # 前几天, in the story
    assert builtin_kb.asked_facets(question) == ("做什么",)


SECTION_DOCS = {
    "dibao/cailiao.md": markdown("低保申请材料", """
# 低保申请材料

## 基本材料
去镇街窗口申请，要带申请书、家庭成员的身份证和户口簿、收入声明、核对授权书，原件和复印件都带上。

## 按家里情况补充的材料
家里有特殊情况的要带证明：有残疾人的带残疾人证，有病人的带病历，离婚的带离婚证。
""", source="测试依据", year="2026", region="广东省"),
    "yanglao/xiaofeiquan.md": markdown("养老服务消费券", """
# 养老服务消费券

## 是什么
养老服务消费券是政府发给失能老人的服务补贴，按月发放到民政通账户。

## 谁可以领
本地户籍、经评估为中度以上失能的老年人。

## 消费券能用于哪些服务
上门助浴、助洁、康复护理、日间照料和机构养老服务都可以用券抵扣。
""", source="测试依据", year="2026", region="广东省"),
}


@pytest.fixture(scope="module")
def section_kb(tmp_path_factory) -> KnowledgeBase:
    root = tmp_path_factory.mktemp("section-kb")
    for rel, text in SECTION_DOCS.items():
        write(root, rel, text)
    return KnowledgeBase.from_path(root)


def test_the_general_section_comes_before_a_special_case(section_kb):
    # The special case says 带 more often; the general list answers 要带什么 first.
    answer = section_kb.answer("办低保要带咩嘢")
    assert answer.sections == ("基本材料",), answer.text


def test_a_heading_the_question_repeats_is_shown(section_kb):
    answer = section_kb.answer("养老服务消费券可以买哪些服务")
    assert answer.sections == ("消费券能用于哪些服务",), answer.text


# -- outside the knowledge base: honest, and pointed to the right office ------------------------------------
@pytest.mark.parametrize("question, office, phone", [
    ("生育津贴怎么领", "医保", "12393"),
    ("医保报销比例是多少", "医保", "12393"),
    ("工伤怎么认定", "人社", "12333"),
    ("老板拖欠工资点算", "人社", "12333"),
    ("適老化改造點申請", "12345", "12345"),
    ("户口怎么迁到广州", "公安", "110"),
])
def test_uncovered_policy_questions_are_refused_and_referred(builtin_kb, question, office, phone):
    answer = builtin_kb.answer(question)
    assert not answer.confident, answer.text
    assert answer.referral == office
    assert phone in answer.text and NOT_SURE in answer.text


def test_a_refusal_about_danger_points_to_the_office_for_that_danger(builtin_kb):
    answer = builtin_kb.answer("老公成日打我，可以揾边个")
    assert not answer.confident and answer.referral == "妇联" and "12338" in answer.text
    scam = builtin_kb.answer("有人打电话话我社保卡出咗问题要我转钱，系咪呃人")
    assert scam.urgent == "诈骗" and scam.referral == "反诈" and "96110" in scam.text


def test_typos_of_other_offices_topics_are_still_referred(builtin_kb):
    assert builtin_kb.answer("失叶金领取条件").referral == "人社"
    assert builtin_kb.answer("被家爆了怎么办").urgent == "暴力"


def test_shared_generic_words_do_not_make_a_confident_answer(facet_kb):
    # 补贴 and 申请 are in the knowledge base, 育儿 is not: the 高龄津贴 document is not about this.
    answer = facet_kb.answer("育儿补贴怎么申请")
    assert not answer.confident


# -- safety first ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("question, kind, phone", [
    ("我老公打我，我好惊", "暴力", "12338"),
    ("我唔想活了", "轻生", "120"),
    ("我阿妈跌倒起唔到身", "跌倒", "120"),
    ("有人打电话叫我转账去安全账户", "诈骗", "96110"),
])
def test_immediate_danger_always_gets_110_120_and_a_social_worker(builtin_kb, question, kind, phone):
    answer = builtin_kb.answer(question)
    assert answer.urgent == kind
    assert answer.text.startswith("⚠️")
    assert "110" in answer.text and "120" in answer.text and phone in answer.text
    assert "找社工" in answer.text


def test_danger_is_flagged_even_when_the_question_is_answered(facet_kb):
    answer = facet_kb.answer("老公打我，低保点样申请")
    assert answer.confident and answer.urgent == "暴力"
    assert answer.text.startswith("⚠️") and "【怎么申请】" in answer.text


# -- follow-ups ------------------------------------------------------------------------------------------------
def converse(kb: KnowledgeBase, *messages: str, at: datetime = NOW):
    topic = None
    answers = []
    for message in messages:
        answer, topic = answer_turn(kb, message, topic, "", at)
        answers.append(answer)
    return answers, topic


def test_elliptical_follow_ups_are_answered_against_the_topic(facet_kb):
    answers, topic = converse(facet_kb, "低保点样申请", "要几耐", "要带咩", "边个可以申请")
    assert [a.sections for a in answers] == [("怎么申请",), ("要等多久",), ("要带什么材料",), ("谁可以申请",)]
    assert all(a.sources[0].path == "dibao/shenqing.md" for a in answers)
    assert topic is not None and topic.path == "dibao/shenqing.md" and topic.facets == ("条件",)


def test_a_new_topic_switches(facet_kb):
    answers, topic = converse(facet_kb, "低保点样申请", "高龄津贴几多钱")
    assert answers[1].sources[0].path == "yanglao/gaoling.md" and answers[1].sections == ("能领多少",)
    assert topic is not None and topic.path == "yanglao/gaoling.md"


def test_a_refusal_keeps_the_topic_and_an_unrelated_question_is_not_a_follow_up(facet_kb):
    answers, topic = converse(facet_kb, "低保点样申请", "今日恒指几多点")
    assert not answers[1].confident
    assert topic is not None and topic.path == "dibao/shenqing.md"
    detail = detail_answer(facet_kb, topic, "")
    assert detail is not None and detail.sources[0].path == "dibao/shenqing.md"
    assert len(detail.text) > len(answers[0].text)


def test_an_acknowledgement_is_not_a_follow_up(facet_kb):
    answers, topic = converse(facet_kb, "低保点样申请", "好的", "要几耐")
    assert not answers[1].confident  # 好的 asks nothing: the answer is not repeated
    assert answers[2].sections == ("要等多久",) and topic is not None and topic.path == "dibao/shenqing.md"


def test_the_topic_expires(facet_kb):
    _, topic = converse(facet_kb, "低保点样申请")
    assert topic is not None
    later = NOW + TOPIC_LIFETIME + timedelta(minutes=1)
    answer, kept = answer_turn(facet_kb, "要几耐", topic, "", later)
    assert not answer.confident
    assert kept == topic  # still there for 详细, just no longer used for follow-ups


def test_a_topic_survives_a_round_trip_through_the_dialog_state(facet_kb):
    _, topic = converse(facet_kb, "低保要带什么材料")
    assert topic is not None
    data = json.loads(json.dumps(topic.as_data()))
    assert Topic.from_data(data) == topic
    assert Topic.from_data({"q": "x"}) is None and Topic.from_data("junk") is None


def test_a_follow_up_stays_with_the_document_it_moved_to(builtin_kb):
    answers, topic = converse(
        builtin_kb, "那个我妈是肢体一级残疾然后我们家也是低保户就是想问一下她能领那个残疾人的补贴吗",
        "要去哪里办啊", "然后那个批下来要多久")
    assert [a.sources[0].path for a in answers] == [
        "canji/liangxiang-butie.md", "canji/liangxiang-shenqing.md", "canji/liangxiang-shenqing.md"]
    assert answers[2].sections == ("审核流程",)  # not back to the first question's document


def test_a_follow_up_the_topic_cannot_answer_goes_to_a_document_on_the_topic_that_can(builtin_kb):
    answers, topic = converse(builtin_kb, "特困人员要咩条件", "批咗之后可唔可以留喺屋企住")
    assert answers[1].confident and answers[1].sources[0].path == "tekun/fensan-jizhong.md"


def test_a_facet_the_topic_has_nothing_on_goes_to_the_document_the_message_names(builtin_kb):
    _, topic = converse(builtin_kb, "低保申请条件")
    answer, moved = answer_turn(builtin_kb, "可以投訴嗎", topic, "", NOW)
    assert answer.confident and answer.sources[0].path == "linshi/shensu-fuhe.md"
    assert answer.sections == ("投诉和反映",) and moved is not None and moved.path == "linshi/shensu-fuhe.md"
    # A facet word alone names no document: 要带什么东西 stays with the topic (not the 低保 materials).
    answers, kept = converse(builtin_kb, "城乡居民医保一年交多少钱", "要带什么东西")
    assert answers[1].sources[0].path == "yibao/jumin-yibao-canbao.md"
    assert kept is not None and kept.path == "yibao/jumin-yibao-canbao.md"


def test_a_follow_up_naming_only_a_city_keeps_the_document_and_the_facet(builtin_kb):
    # The standards document has a Shenzhen section, but about amounts, not about how long approval takes.
    answers, topic = converse(builtin_kb, "低保批落嚟要几耐", "咁深圳呢")
    assert answers[1].confident and answers[1].sources[0].path == "dibao/shenqing-liucheng.md"
    assert answers[1].sections == ("要等多久",)
    assert topic is not None and topic.city == "深圳市"


def test_a_follow_up_on_something_the_topic_covers_stays_and_a_policy_term_moves(builtin_kb):
    answers, _ = converse(builtin_kb, "特困嘅细路18岁之后仲有冇", "读大学呢")
    assert answers[1].sources[0].path == "tekun/rending-tiaojian.md"
    assert answers[1].sections == ("满18岁还在读书怎么办",)
    answers, _ = converse(builtin_kb, "广州低保去边度办", "咁临时救助去边度申请")
    assert answers[1].sources[0].path == "linshi/linshi-jiuzhu.md"


def test_a_facet_follow_up_finds_the_document_on_the_topic_past_the_first_three(builtin_kb):
    answers, topic = converse(builtin_kb, "社工站喺边度", "电话几多", "收唔收钱")
    assert answers[2].sources[0].path == "shegongzhan/fuwu-neirong.md" and answers[2].sections == ("要不要交钱",)
    assert topic is not None and topic.path == "shegongzhan/fuwu-neirong.md"


def test_a_colloquial_follow_up_keeps_the_topic(builtin_kb):
    answers, _ = converse(builtin_kb, "高龄津贴怎么申请", "老人去逝了要退钱吗")
    assert answers[1].confident and answers[1].sources[0].path == "yanglao/gaoling-jintie.md"
    assert answers[1].sections == ("领取期间要注意",)


# -- data files are validated on load, with the file and the line ------------------------------------------
@pytest.mark.parametrize("name, text, expected", [
    ("facets.tsv", "申请流程\tlabel\t怎么申请\n申请流程\tasking\t怎么申请\n", "facets.tsv:2"),
    ("facets.tsv", "补办\tlabel\t怎么补办\n补办\task\t补办\n", "heading"),
    ("facets.tsv", "补办\tlabel\t怎么补办\n补办\task\t补办\n补办\theading\t补办\n补办\tnear\t没有这个\n", "没有这个"),
    ("referrals.tsv", "医保\t医保部门 12393\n", "referrals.tsv:1"),
    ("emergencies.tsv", "# note\n暴力\t打 110\n", "emergencies.tsv:2"),
    ("emergencies.tsv", "暴力\t居委会\t打 110\t被打\n", "居委会"),
])
def test_bad_data_lines_name_the_file_and_line(tmp_path, name, text, expected):
    (tmp_path / name).write_text(text, encoding="utf-8")
    with pytest.raises(TableError, match=expected):
        TermTables.load(tmp_path)


def test_the_built_in_tables_load_with_every_facet_and_a_fallback_office():
    tables = TermTables.load()
    assert set(tables.facets) == {
        "申请流程", "材料", "条件", "金额", "时限", "地点", "电话", "是什么", "定义", "做什么", "后果", "义务", "关系",
        "规模", "紧急", "隐私"}
    assert "12345" in tables.referrals and {"医保", "人社", "法律援助", "妇联", "反诈"} <= set(tables.referrals)
    assert {"暴力", "轻生", "跌倒", "诈骗"} <= set(tables.emergencies)


# -- evaluation (contract D) ------------------------------------------------------------------------------------
def test_evaluation_reads_contract_d_files_and_directories(facet_kb, tmp_path: Path):
    lines = [
        {"q": "低保要多长时间", "expect": ["dibao/shenqing.md"], "section": "要等多久", "style": "standard"},
        {"q": "低保要几耐", "expect": ["dibao/shenqing.md"], "section": "谁可以申请", "style": "cantonese"},
        {"q": "生育津贴怎么领", "expect": [], "section": None, "style": "standard", "refer": "医保"},
    ]
    write(tmp_path, "eval/questions.jsonl", "\n".join(json.dumps(x, ensure_ascii=False) for x in lines))
    conversation = {"id": "c1", "style": "cantonese", "turns": [
        {"q": "低保点样申请", "expect": ["dibao/shenqing.md"], "section": "怎么申请"},
        {"q": "要几耐", "expect": ["dibao/shenqing.md"], "section": "要等多久"},
        {"q": "要带咩", "expect": ["dibao/shenqing.md"], "section": "谁可以申请"}]}
    write(tmp_path, "eval/conversations.jsonl", json.dumps(conversation, ensure_ascii=False))
    assert len(load_items(tmp_path / "eval")) == 4
    report = evaluate(facet_kb, tmp_path / "eval").as_json()
    assert report["answerable"] == 2 and report["hit@1"] == 1.0 and report["section@1"] == 0.5
    assert report["confident_uncovered"] == 0.0 and report["referral_right"] == 1.0
    assert report["follow_ups"] == 2 and report["follow_up_accuracy"] == 0.5
    assert report["styles"]["cantonese"]["section@1"] == 0.0 and report["styles"]["standard"]["section@1"] == 1.0
    assert report["section_given_document"] == 0.5
    halves = [evaluate(facet_kb, tmp_path / "eval", half=h).as_json() for h in HALVES]
    assert sum(h["questions"] for h in halves) == report["questions"]
    assert sum(h["follow_ups"] for h in halves) == report["follow_ups"]


def test_evaluation_names_the_bad_line(facet_kb, tmp_path: Path):
    write(tmp_path, "bad.jsonl", '{"q": "低保", "expect": []}\n{"question": "x"}\n')
    with pytest.raises(ValueError, match="bad.jsonl:2"):
        evaluate(facet_kb, tmp_path / "bad.jsonl")


@pytest.mark.parametrize("spoken, written", [("我爸今年八十一了", "我爸今年81了"), ("过了八十岁", "过了80岁"),
                                             ("一百零五岁", "105岁"), ("第十条", "第十条")])
def test_spoken_ages_become_digits_as_documents_write_them(spoken, written):
    assert spoken_numbers(spoken) == written


@pytest.mark.parametrize("spoken, joined", [("高龄的补贴点领", "高龄补贴点领"), ("我的低保", "我的低保")])
def test_speech_s_de_inside_a_policy_term_is_dropped(builtin_kb, spoken, joined):
    assert builtin_kb.analyzer.normalizer.join_particles(spoken) == joined


def test_a_message_about_danger_is_not_read_against_the_last_topic(builtin_kb):
    answers, topic = converse(builtin_kb, "長者飯堂點樣申請", "我屋企老人话自己唔想活了", "几多钱一餐")
    assert "110" in answers[1].text and "收费" not in answers[1].text  # not the meal fees of the last topic
    assert answers[2].confident and answers[2].sources[0].path == answers[0].sources[0].path  # the topic stays
