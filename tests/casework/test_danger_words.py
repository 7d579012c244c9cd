"""Danger words in Mandarin, Cantonese and paraphrase: `data/danger_phrasings.txt` lists phrasings that must
alert the station's leads (+) and everyday ones that must not (-, e.g. 打针, 打电话, 打算, 打扫, 打工)."""

from __future__ import annotations

from pathlib import Path

import pytest

from handlers.casework.visit_parser import (
    DangerWords,
    DangerWordsError,
    default_danger_words,
    load_danger_words,
)

PHRASINGS = Path(__file__).resolve().parent / "data" / "danger_phrasings.txt"


def phrasings(sign: str) -> list[str]:
    lines = PHRASINGS.read_text(encoding="utf-8").splitlines()
    return [line[2:].strip() for line in lines if line.startswith(f"{sign} ")]


def test_the_phrasing_file_is_big_enough() -> None:
    assert len(phrasings("+")) >= 60 and len(phrasings("-")) >= 60


@pytest.mark.parametrize("text", phrasings("+"))
def test_danger_is_found(text: str) -> None:
    assert default_danger_words().find(text), text


@pytest.mark.parametrize("text", phrasings("-"))
def test_no_danger_is_found(text: str) -> None:
    assert default_danger_words().find(text) == (), text


def test_the_mention_is_reported_as_written() -> None:
    assert default_danger_words().find("佢被護工打，身上有傷") == ("被护工打", "身上有伤")


def test_a_gap_stays_inside_one_clause() -> None:
    words = DangerWords.of(["被*打"])
    assert words.find("被同学打") == ("被同学打",)
    assert words.find("被子很薄，下午去打球") == ()  # the comma ends the clause
    assert words.find("被人用棍打") == ("被人用棍打",)
    assert words.find("被送去医院后又打") == ()  # more than four characters between


def test_an_exception_spares_only_the_mention_it_overlaps() -> None:
    words = DangerWords.of(["被*打", "打佢"], ["打针", "打佢电话"])
    assert words.find("被安排打针") == ()
    assert words.find("打佢电话冇人听") == ()
    assert words.find("昨日被打，今日去打针") == ("被打",)
    assert words.find("打佢电话，佢个仔又打佢") == ("打佢",)


@pytest.mark.parametrize("content, message", [
    ("*打\n", ":1: 危险词只能包含"),
    ("被*\n", ":1: 危险词只能包含"),
    ("被**打\n", ":1: 危险词只能包含"),
    ("被*打\n!打*针\n", ":2: 危险词只能包含"),
    ("家暴\n!吃饭\n", ":2: 例外词 '吃饭' 不包含任何危险词"),
    ("家暴\n!家暴事件 !家暴事件\n", ":2: '家暴事件' 已在第 2 行出现"),
    ("被*打\n!打針\n", ":2: 请用简体字书写"),
])
def test_bad_patterns_and_exceptions_name_file_and_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "danger_words.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DangerWordsError) as info:
        load_danger_words(path)
    assert str(path) in str(info.value) and message in str(info.value)


def test_an_exception_may_hold_part_of_a_gapped_word(tmp_path: Path) -> None:
    path = tmp_path / "danger_words.txt"
    path.write_text("被*打\n!打针 !被子\n", encoding="utf-8")
    assert load_danger_words(path).exceptions == ("打针", "被子")
