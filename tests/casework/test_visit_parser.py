"""The one-message report parser, the draft form and the danger-word file: pure functions, many phrasings."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.casework.visit_form import Draft, apply_edit, lead_notice, render_confirmation
from handlers.casework.visit_parser import (
    FUTURE,
    INVALID,
    SHANGHAI,
    DangerWordsError,
    ParsedVisit,
    default_danger_words,
    describe,
    load_danger_words,
    match_time,
    open_questions,
    parse_mode,
    parse_risk,
    parse_visit,
)
from knowledge.engine.normalize import to_simplified

# Saturday 28 November 2026, 17:00 in Guangdong.
NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def parse(text: str, **kw):
    return parse_visit(text, NOW, **kw)


# -- the example from the issue, and its traditional / full-width twins ------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "张桂英 入户 身体还可以，腿脚不便，需要助餐，低风险，下周电话回访",
        "張桂英 入戶 身體還可以，腿腳不便，需要助餐，低風險，下週電話回訪",
        "张桂英　入户　身体还可以,腿脚不便,需要助餐,低风险,下周电话回访",  # ideographic spaces, ASCII commas
        "张桂英 入户 身体还可以；腿脚不便。需要助餐！低风险。下周电话回访。",
        "张桂英入户，身体还可以，腿脚不便，需要助餐，低风险，下周电话回访",
    ],
)
def test_issue_example_in_every_script(text: str) -> None:
    p = parse(text)
    assert p.name == "张桂英"
    assert p.mode == "入户"
    assert p.visited_at == NOW and not p.time_given
    assert p.findings.replace("身體還可以", "身体还可以").replace("腿腳", "腿脚") == "身体还可以，腿脚不便"
    assert p.needs == "需要助餐"
    assert p.risk == "低"
    assert p.follow_up in ("下周电话回访", "下週電話回訪")
    assert p.danger == ()


def test_original_wording_is_kept() -> None:
    p = parse("張桂英 入戶 身體還可以，需要助餐")
    assert p.findings == "身體還可以"  # the worker's own characters, not the simplified copy
    assert p.name == "张桂英"  # the name is looked up in simplified form


# -- modes -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "word, mode",
    [
        ("入户", "入户"),
        ("上门", "入户"),
        ("家访", "入户"),
        ("电话", "电话"),
        ("电访", "电话"),
        ("打电话", "电话"),
        ("视频", "视频"),
        ("视频通话", "视频"),
        ("来站", "到站"),
        ("到站", "到站"),
        ("電訪", "电话"),
    ],
)
def test_mode_synonyms(word: str, mode: str) -> None:
    assert parse(f"张桂英 {word} 情况稳定").mode == mode
    assert parse_mode(word) == mode


def test_mode_missing_is_none_and_follow_up_mode_is_not_the_visit_mode() -> None:
    p = parse("张桂英 情况稳定，下周电话回访")
    assert p.mode is None and p.follow_up == "下周电话回访"


def test_mode_inside_a_finding() -> None:
    p = parse("张桂英，今天电话联系老人，说最近睡得好")
    assert p.mode == "电话"
    assert "睡得好" in p.findings


# -- times -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "said, expected, clock",
    [
        ("今天", local(2026, 11, 28, 12, 0), False),  # the day only: date-only, like 昨天
        ("今日", local(2026, 11, 28, 12, 0), False),
        ("昨天", local(2026, 11, 27, 12, 0), False),
        ("前天", local(2026, 11, 26, 12, 0), False),
        ("上午", local(2026, 11, 28, 9, 0), True),
        ("下午3点", local(2026, 11, 28, 15, 0), True),
        ("下午三点半", local(2026, 11, 28, 15, 30), True),
        ("晚上8点", local(2026, 11, 28, 20, 0), True),
        ("昨天下午3点", local(2026, 11, 27, 15, 0), True),
        ("昨晚", local(2026, 11, 27, 19, 0), True),
        ("10:30", local(2026, 11, 28, 10, 30), True),
        ("3点", local(2026, 11, 28, 15, 0), True),  # working hours: 3 o'clock is the afternoon
        ("9点", local(2026, 11, 28, 9, 0), True),
        ("3月5日", local(2026, 3, 5, 12, 0), False),
        ("十一月二十日", local(2026, 11, 20, 12, 0), False),
        ("11/20", local(2026, 11, 20, 12, 0), False),
        ("5号", local(2026, 11, 5, 12, 0), False),
        ("周一", local(2026, 11, 23, 12, 0), False),
        ("周六", local(2026, 11, 28, 12, 0), False),  # today is Saturday: today, date only
        ("星期日", local(2026, 11, 22, 12, 0), False),
        ("礼拜三上午", local(2026, 11, 25, 9, 0), True),
        ("上周三", local(2026, 11, 18, 12, 0), False),
        ("上星期五下午2点", local(2026, 11, 20, 14, 0), True),
        ("今天 下午 3 点", local(2026, 11, 28, 15, 0), True),
        ("2025年3月5日", local(2025, 3, 5, 12, 0), False),
    ],
)
def test_times(said: str, expected: datetime, clock: bool) -> None:
    p = parse(f"张桂英 {said} 入户 情况稳定")
    assert p.visited_at == expected, said
    assert p.time_given and p.clock_given == clock
    assert p.mode == "入户" and p.findings == "情况稳定"


def test_today_without_a_time_is_date_only_and_never_ahead_of_now() -> None:
    morning = datetime(2026, 11, 28, 1, 30, tzinfo=UTC)  # 09:30 in Guangdong: today's noon is still ahead
    p = parse_visit("张桂英 今天 入户 情况稳定", morning)
    assert p.date_only and p.visited_at == local(2026, 11, 28, 9, 30) and not p.date_flag
    draft = Draft.from_parsed(p, "k")
    assert not draft.clock_given and not draft.to_visit_draft().time_known
    assert "date" not in draft.questions
    assert render_confirmation(draft, morning).text.count("09:30") == 0
    # A time said with it is kept.
    assert parse_visit("张桂英 今天上午10点 入户 情况稳定", morning + timedelta(hours=2)).clock_given


@pytest.mark.parametrize("text", ["2月30日", "13月1日", "25点", "下午25点"])
def test_impossible_times_are_not_times(text: str) -> None:
    found = match_time(text, NOW)
    assert found is None or found.length < len(text)


def test_time_before_the_name_and_glued_to_the_mode() -> None:
    p = parse("昨天下午3点 张桂英 电话 老人说最近睡眠不好")
    assert (p.name, p.mode, p.visited_at) == ("张桂英", "电话", local(2026, 11, 27, 15, 0))
    p = parse("张桂英 昨天上午入户看望，精神不错")
    assert (p.mode, p.visited_at, p.findings) == ("入户", local(2026, 11, 27, 9, 0), "精神不错")


def test_dates_inside_findings_are_not_the_visit_time() -> None:
    p = parse("张桂英 入户 老人说前天下雨屋顶漏水，需要修缮，下周三再去")
    assert not p.time_given
    assert p.findings == "老人说前天下雨屋顶漏水" and p.follow_up == "下周三再去"


# -- names -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, name",
    [
        ("张桂英阿姨 入户 精神不错", "张桂英"),
        ("王伯 电话 还好", "王伯"),  # too short to drop the title
        ("李四 到站 来站咨询低保政策", "李四"),
        ("欧阳春花 视频 情况稳定", "欧阳春花"),
        ("了张桂英，情况稳定", "张桂英"),  # 走访了张桂英
        ("周一平 周三 视频 情况稳定", "周一平"),  # 周 is a surname here, not Monday
        ("张桂英昨天入户，情况稳定", "张桂英"),
    ],
)
def test_names(text: str, name: str) -> None:
    assert parse(text).name == name


def test_known_names_split_a_name_glued_to_the_description() -> None:
    assert parse("张三身体还好").name == "张三身"  # a guess without help…
    p = parse("张三身体还好", known_names=["张三", "李四"])  # …and exact with the worker's case names
    assert (p.name, p.findings) == ("张三", "身体还好")
    p = parse("周五妹今天入户精神好", known_names=["周五妹"])
    assert (p.name, p.visited_at.date(), p.mode) == ("周五妹", local(2026, 11, 28, 0, 0).date(), "入户")


def test_voice_recognition_without_spaces() -> None:
    p = parse("张桂英入户身体还可以腿脚不便，需要助餐，低风险。", known_names=["张桂英"])
    assert (p.name, p.mode, p.findings, p.needs, p.risk) == ("张桂英", "入户", "身体还可以腿脚不便", "需要助餐", "低")


def test_no_name() -> None:
    assert parse("").name == ""
    assert parse("入户 昨天").name == ""


# -- names from the roster (issue 14) --------------------------------------------------------------------
ROSTER = ["张桂英", "黎秀珍", "蔡文辉", "陈桂英", "罗嘉豪", "罗嘉欣", "周一平", "冯玉兰", "区锦华", "杜明"]


def on_roster(text: str, now: datetime = NOW) -> ParsedVisit:
    return parse_visit(text, now, known_names=ROSTER)


@pytest.mark.parametrize(
    "text, name, mode, notes",
    [
        ("今天上午去咗黎秀珍屋企，佢话腰骨痛", "黎秀珍", "入户", "佢话腰骨痛"),
        ("琴日下昼电话联系了蔡文辉，佢话食得落", "蔡文辉", "电话", "佢话食得落"),
        ("电话联系了蔡文辉他说最近睡得好", "蔡文辉", "电话", "他说最近睡得好"),
        ("探望了张桂英阿姨，身体还可以", "张桂英", None, "身体还可以"),
        ("给杜明打了电话，佢话冇事", "杜明", "电话", "佢话冇事"),
        ("打咗电话俾冯玉兰，佢话冇事", "冯玉兰", "电话", "佢话冇事"),
        ("我今天去了陈桂英家里她说膝盖痛", "陈桂英", "入户", "她说膝盖痛"),
        ("张桂英家里很乱", "张桂英", None, "家里很乱"),  # no going: 家里 is part of the finding
    ],
)
def test_roster_names_are_found_around_cantonese_and_mandarin_verbs(
    text: str, name: str, mode: str | None, notes: str
) -> None:
    p = on_roster(text)
    assert (p.name, p.people, p.name_guessed, p.mode, p.findings) == (name, (name,), False, mode, notes)


def test_a_roster_name_inside_the_first_clause_is_the_person() -> None:
    p = on_roster("同事反映张桂英今日跌倒，起唔到身")
    assert (p.name, p.people, p.name_guessed) == ("张桂英", ("张桂英",), False)
    assert p.findings == "同事反映张桂英今日跌倒，起唔到身" and p.danger == ("跌倒", "起唔到身")


def test_several_roster_people_are_all_returned() -> None:
    assert on_roster("罗嘉豪 罗嘉欣 入户 兄妹都好").people == ("罗嘉豪", "罗嘉欣")
    assert on_roster("琴日去咗冯玉兰屋企，又去埋区锦华屋企，两个都冇乜事").people == ("冯玉兰", "区锦华")
    p = on_roster("张桂英 入户 老人说邻居黎秀珍常来串门")
    assert (p.name, p.people, p.findings) == ("张桂英", ("张桂英", "黎秀珍"), "老人说邻居黎秀珍常来串门")
    assert "2 位服务对象：张桂英、黎秀珍" in " ".join(open_questions(p))


@pytest.mark.parametrize(
    "typed, meant",
    [("陈贵英", "陈桂英"), ("黎秀贞", "黎秀珍"), ("蔡文灰", "蔡文辉"), ("杜鸣", "杜明"), ("张贵英", "张桂英")],
)
def test_a_near_miss_is_suggested_never_replaced(typed: str, meant: str) -> None:
    for text in (f"{typed} 入户 情况稳定", f"{typed}入户情况稳定"):
        p = on_roster(text)
        assert (p.name, p.people, p.name_guessed, p.suggestions) == (typed, (), True, ((typed, meant),))
        assert p.findings == "情况稳定"
        assert f"是不是 {meant}？" in open_questions(p)[0]


def test_two_character_names_need_the_same_sound() -> None:
    p = on_roster("杜亮 入户 情况稳定")  # one character off a two-character name is someone else
    assert (p.name, p.name_guessed, p.suggestions) == ("杜亮", True, ())


def test_without_a_roster_match_the_name_is_a_flagged_guess() -> None:
    p = on_roster("李建华 入户 新认识的老人")
    assert (p.name, p.people, p.name_guessed) == ("李建华", (), True)
    assert "名单上没有“李建华”" in open_questions(p)[0]
    p = on_roster("今日去咗陈伯屋企，佢话冇乜事")
    assert (p.name, p.name_guessed, p.mode, p.findings) == ("陈伯", True, "入户", "佢话冇乜事")


# -- dates that must be asked, Cantonese times, date only --------------------------------------------------
DEC2 = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)  # Wednesday 2 December 2026, 17:30 in Guangdong


@pytest.mark.parametrize(
    "said, flag, day",
    [
        ("11月31日", INVALID, None),
        ("2月30日", INVALID, None),
        ("13月1日", INVALID, None),
        ("十一月三十一号", INVALID, None),
        ("12月5日", FUTURE, date(2026, 12, 5)),  # ahead: asked, not moved to last year
        ("2027年1月5日", FUTURE, date(2027, 1, 5)),
        ("今晚8点", FUTURE, date(2026, 12, 2)),
        ("11月30日", "", date(2026, 11, 30)),
        ("3号", "", date(2026, 11, 3)),  # the latest 3rd that has passed
        ("31号", "", date(2026, 10, 31)),  # November has no 31st
        ("1号", "", date(2026, 12, 1)),
    ],
)
def test_dates_that_cannot_be_used_are_flagged_not_replaced(said: str, flag: str, day: date | None) -> None:
    p = on_roster(f"张桂英 {said} 入户 情况稳定", DEC2)
    assert p.date_flag == flag and p.time_given and p.date_said == to_simplified(said)
    assert p.findings == "情况稳定" and p.mode == "入户"
    if day is not None:
        assert p.visited_at.date() == day
    else:  # the message time is only a placeholder: the flag says it must be asked
        assert not p.clock_given and "不是有效的日期" in " ".join(open_questions(p))


def test_a_date_just_past_the_new_year_is_last_years() -> None:
    p = parse_visit("张桂英 12月20日 入户 情况稳定", datetime(2027, 1, 5, 2, 0, tzinfo=UTC))
    assert (p.visited_at.date(), p.date_flag) == (date(2026, 12, 20), "")


@pytest.mark.parametrize(
    "said, expected",
    [
        ("下晝三點", local(2026, 12, 2, 15, 0)),
        ("晏晝兩點", local(2026, 12, 2, 14, 0)),
        ("下午3点半", local(2026, 12, 2, 15, 30)),
        ("上晝十點", local(2026, 12, 2, 10, 0)),
        ("朝早", local(2026, 12, 2, 8, 0)),
        ("今朝十点", local(2026, 12, 2, 10, 0)),
        ("琴日下昼", local(2026, 12, 1, 15, 0)),
        ("寻日傍晚", local(2026, 12, 1, 18, 0)),
        ("琴晚", local(2026, 12, 1, 19, 0)),
        ("前日夜晚七点", local(2026, 11, 30, 19, 0)),
    ],
)
def test_cantonese_parts_of_the_day(said: str, expected: datetime) -> None:
    p = on_roster(f"冯玉兰 {said} 电话 佢话冇事", DEC2)
    assert (p.visited_at, p.clock_given, p.date_flag, p.findings) == (expected, True, "", "佢话冇事")


def test_a_date_alone_stays_a_date() -> None:
    p = on_roster("张桂英 11月30日 入户 情况稳定", DEC2)
    assert p.date_only and not p.clock_given and p.visited_at.date() == date(2026, 11, 30)
    p = on_roster("张桂英 入户 情况稳定", DEC2)
    assert not p.time_given and not p.date_only and p.visited_at == DEC2


def test_a_time_word_inside_a_finding_is_not_the_visit_time() -> None:
    p = on_roster("张桂英 视频 今天孩子生日，家里气氛好", DEC2)
    assert not p.time_given and p.findings == "今天孩子生日，家里气氛好"


# -- dictated text without punctuation ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, findings, needs, services, risk, follow_up",
    [
        (
            "张桂英入户身体还可以腿脚不便需要助餐低风险下周电话回访",
            "身体还可以腿脚不便",
            "需要助餐",
            "",
            "低",
            "下周电话回访",
        ),
        (
            "今日去咗冯玉兰屋企佢话最近瞓得唔好想有人陪佢倾下偈风险低下个礼拜再嚟",
            "佢话最近瞓得唔好",
            "想有人陪佢倾下偈",
            "",
            "低",
            "下个礼拜再嚟",
        ),
        (
            "蔡文辉入户老人刚出院精神一般需要护理服务帮她申请了家庭医生签约中风险持续跟进",
            "老人刚出院精神一般",
            "需要护理服务",
            "帮她申请了家庭医生签约",
            "中",
            "持续跟进",
        ),
        (
            "黎秀珍 入户 情况 家里收入没有变化 需求 没有 风险 低 跟进 半年后复核",
            "家里收入没有变化",
            "没有",
            "",
            "低",
            "半年后复核",
        ),
        ("杜明电话佢话最近冇乜事没什么需要低风险", "佢话最近冇乜事", "没什么需要", "", "低", ""),
        ("张桂英入户腿脚不便需要有人帮忙买菜低风险", "腿脚不便", "需要有人帮忙买菜", "", "低", ""),
    ],
)
def test_dictated_text_is_split_by_cue_words(
    text: str, findings: str, needs: str, services: str, risk: str, follow_up: str
) -> None:
    p = on_roster(text)
    assert (p.findings, p.needs, p.services, p.risk, p.follow_up) == (findings, needs, services, risk, follow_up)


def test_labelled_fields_go_where_their_label_says() -> None:
    p = on_roster("张桂英 入户 情况：行动不便。需求：助浴、理发。风险：中。跟进：下周联系医生上门。")
    assert (p.findings, p.needs, p.risk, p.follow_up) == ("行动不便", "助浴、理发", "中", "下周联系医生上门")


def test_open_questions_ask_for_what_was_not_said() -> None:
    p = on_roster("张桂英 身体还好")
    assert (p.mode, p.risk) == (None, None)
    asks = open_questions(p)
    assert any("走访方式" in a for a in asks) and any("风险等级" in a for a in asks)
    assert open_questions(on_roster("张桂英 入户 身体还好，低风险")) == ()


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "张桂英",
                "黎秀珍",
                "陈贵英",
                "周一平",
                "入户",
                "电话",
                "今天",
                "琴日",
                "下昼",
                "三点",
                "11月31日",
                "12月5日",
                "3号",
                "佢话",
                "需要",
                "风险",
                "低",
                "下周",
                "已经",
                "帮佢",
                "去咗",
                "屋企",
                "和",
                "被",
                "打",
                "针",
                "，",
                "。",
                " ",
                "：",
                "【",
                "）",
                "周",
                "一",
                "了",
                "再",
                "号",
                "半",
                "🙂",
                "9",
            ]
        ),
        max_size=16,
    )
)
def test_any_text_parses_and_names_come_from_the_roster(pieces: list[str]) -> None:
    p = on_roster("".join(pieces))
    assert set(p.people) <= set(ROSTER) and p.date_flag in ("", INVALID, FUTURE)
    assert p.name_guessed or not p.name or p.name in ROSTER
    assert len(p.name) <= 4 or p.name in ROSTER
    assert all(meant in ROSTER for _, meant in p.suggestions)
    open_questions(p)


# -- clause kinds ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "clause, field",
    [
        ("需要助餐", "needs"),
        ("希望有人陪聊", "needs"),
        ("想要申请轮椅", "needs"),
        ("有助浴需求", "needs"),
        ("提供政策咨询", "services"),
        ("送了米和油", "services"),
        ("协助办理高龄津贴", "services"),
        ("帮她办了医保", "services"),
        ("帮忙联系了村委", "services"),
        ("陪同就医", "services"),
        ("下周电话回访", "follow_up"),
        ("持续跟进", "follow_up"),
        ("下次复访", "follow_up"),
        ("转介民政办", "follow_up"),
        ("明天再上门", "follow_up"),
        ("下个月随访", "follow_up"),
        ("身体还可以", "findings"),
        ("腿脚不便", "findings"),
        ("家里很干净", "findings"),
        ("独居，子女在外地", "findings"),
    ],
)
def test_clause_kinds(clause: str, field: str) -> None:
    p = parse(f"张桂英 入户 {clause}")
    values = {f: getattr(p, f) for f in ("findings", "needs", "services", "follow_up")}
    assert values[field] == clause.replace("，", "，"), values
    assert all(not v for f, v in values.items() if f != field), values


@pytest.mark.parametrize(
    "said, risk",
    [
        ("低风险", "低"),
        ("中风险", "中"),
        ("高风险", "高"),
        ("风险高", "高"),
        ("风险较高", "高"),
        ("风险等级：中", "中"),
        ("风险评估为低", "低"),
        ("风险中等", "中"),
        ("高危", "高"),
        ("无风险", "低"),
        ("風險高", "高"),
        ("风险偏低", "低"),
    ],
)
def test_risk_phrasings(said: str, risk: str) -> None:
    p = parse(f"张桂英 入户 情况稳定，{said}")
    assert p.risk == risk and p.findings == "情况稳定"


def test_risk_inside_a_clause_leaves_the_rest() -> None:
    p = parse("张桂英 入户 情况稳定低风险")
    assert p.risk == "低" and p.findings == "情况稳定"


def test_stroke_is_not_medium_risk_and_highest_risk_wins() -> None:
    assert parse("张桂英 入户 去年中风，行动不便").risk is None
    assert parse("张桂英 入户 原来低风险，现在风险高").risk == "高"


def test_bare_risk_answers() -> None:
    assert [parse_risk(x) for x in ("高", "中", "低", "一般", "随便")] == ["高", "中", "低", "中", ""]


def test_describe_sorts_free_text() -> None:
    d = describe("腿脚不便，送了米，需要助餐，高风险，下周回访")
    assert (d.findings, d.services, d.needs, d.risk, d.follow_up) == (
        "腿脚不便",
        "送了米",
        "需要助餐",
        "高",
        "下周回访",
    )


# -- danger words ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, words",
    [
        ("张桂英 入户 老人昨天在家摔倒了，左腿擦伤", ("摔倒",)),
        ("张桂英 电话 说不想活了", ("不想活",)),
        ("张桂英 入户 家中断粮，断水断电", ("断粮", "断水", "断电")),
        ("张桂英 入户 邻居反映儿子经常打人，疑似家暴", ("打人", "家暴")),
        ("張桂英 入戶 老人跌倒，煤氣有異味", ("跌倒", "煤气有异味")),
        ("张桂英 入户 未发现家暴迹象，没有摔倒过", ()),
        ("张桂英 入户 提醒注意防止跌倒", ()),
        ("张桂英 入户 情况稳定", ()),
    ],
)
def test_danger_words(text: str, words: tuple[str, ...]) -> None:
    assert parse(text).danger == words


def test_danger_word_file_is_valid_and_has_the_issue_words() -> None:
    words = default_danger_words().words
    for w in ("自杀", "轻生", "家暴", "摔倒", "断粮", "断水", "断电", "走失", "火灾", "虐待"):
        assert w in words


@pytest.mark.parametrize(
    "content, message",
    [
        ("自杀\n家\n", ":2: 危险词应为 2 到 12 个字"),
        ("自杀 轻生\n家暴 自杀\n", ":2: '自杀' 已在第 1 行出现"),
        ("# 注释\n家暴\n摔倒!\n", ":3: 危险词只能包含汉字"),
        ("家暴\n輕生\n", ":2: 请用简体字书写"),
        ("# 只有注释\n", "没有任何危险词"),
    ],
)
def test_bad_danger_word_file_names_file_and_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "danger_words.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DangerWordsError) as info:
        load_danger_words(path)
    assert str(path) in str(info.value) and message in str(info.value)


def test_danger_word_file_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "danger_words.txt"
    path.write_bytes("家暴".encode("gbk"))
    with pytest.raises(DangerWordsError, match="UTF-8"):
        load_danger_words(path)


# -- the draft: confirmation, edits, notices ---------------------------------------------------------------
def draft(text: str = "张桂英 入户 身体还可以，腿脚不便，需要助餐，低风险，下周电话回访") -> Draft:
    d = Draft.from_parsed(parse(text), "console:m1")
    return Draft.from_state({**d.to_state(), "case_id": 7, "case_name": "张桂英", "case_village": "东村"})


def test_confirmation_shows_every_field() -> None:
    reply = render_confirmation(draft(), NOW)
    for line in (
        "对象：张桂英（东村）",
        "时间：11月28日（周六）17:00",
        "方式：入户",
        "情况：身体还可以，腿脚不便",
        "需求：需要助餐",
        "服务：（无）",
        "风险：低",
        "跟进：下周电话回访",
    ):
        assert line in reply.text, line
    assert "危险提示" not in reply.text
    assert [b.label for b in reply.buttons] == ["确认", "修改", "取消"]


def test_confirmation_marks_danger_and_asks_for_the_missing_mode_and_a_future_time() -> None:
    reply = render_confirmation(draft("张桂英 晚上8点 老人摔倒了"), NOW)
    assert "危险提示：摔倒" in reply.text and "站长" in reply.text
    assert "方式：❓待回答" in reply.text and "按入户" not in reply.text  # asked, never assumed
    assert "时间：❓待回答" in reply.text and "还没到" in reply.text
    assert "日（周五）" in render_confirmation(draft("张桂英 昨天 入户 好"), NOW).text


def test_draft_survives_the_dialog_state_round_trip() -> None:
    d = draft()
    assert Draft.from_state(d.to_state()) == d
    visit = d.to_visit_draft()
    assert (visit.case_id, visit.mode, visit.needs, visit.risk_after, visit.danger) == (7, "入户", "需要助餐", "低", "")


@pytest.mark.parametrize(
    "command, field, value",
    [
        ("修改 需求 需要助浴", "needs", "需要助浴"),
        ("修改需求：需要助浴", "needs", "需要助浴"),
        ("改 情况 精神很好", "findings", "精神很好"),
        ("修改 服务 送了米", "services", "送了米"),
        ("修改 跟进 下月回访", "follow_up", "下月回访"),
        ("修改 方式 电访", "mode", "电话"),
        ("修改 风险 高", "risk", "高"),
        ("修改 风险 中风险", "risk", "中"),
        ("修改 跟进 清空", "follow_up", ""),
        ("修改 時間 昨天下午3點", "visited_at", local(2026, 11, 27, 15, 0).isoformat()),
    ],
)
def test_edits(command: str, field: str, value: str) -> None:
    changed = apply_edit(draft(), command, NOW)
    assert isinstance(changed, Draft)
    assert getattr(changed, field) == value


@pytest.mark.parametrize(
    "command, hint",
    [
        ("修改", "可以改"),
        ("修改 需求", "可以改"),
        ("修改 方式 走路", "方式只能是"),
        ("修改 风险 很大吧", "风险只能是"),
        ("修改 时间 好久以前", "没看懂"),
        ("修改 对象 李四", "取消"),
        ("修改 颜色 红", "可以改"),
    ],
)
def test_bad_edits_explain(command: str, hint: str) -> None:
    answer = apply_edit(draft(), command, NOW)
    assert isinstance(answer, str) and hint in answer


def test_edit_that_adds_a_danger_word_raises_the_alarm() -> None:
    changed = apply_edit(draft(), "修改 情况 老人在浴室跌倒", NOW)
    assert isinstance(changed, Draft) and changed.alarming() and changed.danger() == ("跌倒",)
    assert changed.to_visit_draft().danger == "跌倒"
    risky = apply_edit(draft(), "修改 风险 高", NOW)
    assert isinstance(risky, Draft) and risky.alarming()


def test_lead_notice_has_case_worker_words_and_time() -> None:
    notice = lead_notice(7, "张桂英", "东村", "李敏", ("摔倒",), "高", NOW - timedelta(hours=1), now=NOW)
    for part in ("张桂英（东村）", "摔倒", "风险等级：高", "李敏", "11月28日（周六）16:00"):
        assert part in notice.text
    assert [(b.label, b.payload) for b in notice.buttons] == [("查看张桂英", "查 #7")]
