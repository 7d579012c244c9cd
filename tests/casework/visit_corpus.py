"""The visit-report corpus (`data/visit_reports.jsonl`) and how a parse is scored against it; shared by
`test_visit_corpus.py` (which asserts the targets) and `bench/visit_parse.py --accuracy` (which reports).

Each line is one report as a worker would send it after `走访` (Mandarin, Cantonese, dictated text without
punctuation, typos, traditional characters), the roster it assumes (a key of `data/visit_rosters.json`) and
what it says:
  people    roster names it is about, in order ([] when the name typed is not on the roster)
  suggest   {as typed: roster name} for a near miss that must be offered, not taken
  guess     the name that must be returned as a guess (not on the roster, nothing close)
  mode      入户 | 电话 | 视频 | 到站 | null (not said: must stay open)
  when      "YYYY-MM-DD" (a date only), "YYYY-MM-DD HH:MM", or null (not said: the time of the message)
  flag      null | "invalid" | "future": the date must be asked about
  risk      高 | 中 | 低 | null
  findings, needs, services, follow_up: the text of each field (compared without punctuation or spaces)
  danger    whether the report must alert the station's leads
  set       absent for the reports written while the parser was being developed; "holdout-1" and
            "holdout-2" for two batches written afterwards, each first measured before the parser was
            changed for it (`bench/visit_parse.py` reports each set apart)
All reports are read at `NOW`, Wednesday 2 December 2026, 17:30 in Guangdong.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from handlers.casework.visit_parser import SHANGHAI, ParsedVisit, parse_visit
from knowledge.engine.normalize import to_simplified

DATA = Path(__file__).resolve().parent / "data"
CORPUS = DATA / "visit_reports.jsonl"
ROSTERS = DATA / "visit_rosters.json"
NOW = datetime(2026, 12, 2, 17, 30, tzinfo=SHANGHAI)
FIELDS = ("person", "mode", "date", "risk", "findings", "needs", "services", "follow_up", "danger")
TEXT_FIELDS = ("findings", "needs", "services", "follow_up")
STYLES = {"mandarin", "cantonese", "voice", "typo", "traditional"}
REQUIRED = {"id", "roster", "style", "text", "people", "mode", "when", "flag", "risk", *TEXT_FIELDS, "danger"}
_PUNCT = re.compile(r"[\s，,。.；;！!？?、：:]+")
_WHEN = re.compile(r"\d{4}-\d{2}-\d{2}(?: \d{2}:\d{2})?")


def load_rosters(path: Path = ROSTERS) -> dict[str, list[str]]:
    return json.loads(path.read_text(encoding="utf-8"))


def load_reports(path: Path = CORPUS, rosters: dict[str, list[str]] | None = None) -> list[dict[str, Any]]:
    """The corpus, each line checked (errors name the file and line)."""
    rosters = rosters if rosters is not None else load_rosters()
    reports = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        report = json.loads(line)
        if missing := REQUIRED - report.keys():
            raise ValueError(f"{where}: missing {sorted(missing)}")
        if report["roster"] not in rosters or report["style"] not in STYLES:
            raise ValueError(f"{where}: unknown roster or style")
        if report["when"] is not None and not _WHEN.fullmatch(report["when"]):
            raise ValueError(f"{where}: when must be YYYY-MM-DD or YYYY-MM-DD HH:MM")
        names = set(rosters[report["roster"]])
        named = set(report["people"]) | set(report.get("suggest", {}).values())
        if not named <= names:
            raise ValueError(f"{where}: {sorted(named - names)} not on roster {report['roster']}")
        reports.append(report)
    return reports


def _plain(text: str) -> str:
    return _PUNCT.sub("", to_simplified(text or ""))


def _person_right(report: dict[str, Any], parsed: ParsedVisit) -> bool:
    if parsed.people != tuple(report["people"]):
        return False
    if suggest := report.get("suggest"):
        return parsed.name_guessed and set(parsed.suggestions) == set(suggest.items())
    if guess := report.get("guess"):
        return parsed.name_guessed and parsed.name == guess and not parsed.suggestions
    return not parsed.name_guessed and not parsed.suggestions and parsed.name == report["people"][0]


def _date_right(report: dict[str, Any], parsed: ParsedVisit) -> bool:
    if (parsed.date_flag or None) != report["flag"]:
        return False
    if report["flag"] == "invalid":
        return True
    when = report["when"]
    at = parsed.visited_at.astimezone(SHANGHAI)
    if when is None:
        return at == NOW
    if len(when) == 10:
        return parsed.date_only and at.date().isoformat() == when
    return parsed.clock_given and at.strftime("%Y-%m-%d %H:%M") == when


def check(report: dict[str, Any], parsed: ParsedVisit) -> dict[str, bool]:
    """Per field: does the parse say what the report says?"""
    right = {"person": _person_right(report, parsed), "mode": parsed.mode == report["mode"],
             "date": _date_right(report, parsed), "risk": parsed.risk == report["risk"],
             "danger": bool(parsed.danger) == report["danger"]}
    for name in TEXT_FIELDS:
        right[name] = _plain(getattr(parsed, name)) == _plain(report[name])
    return right


@dataclass
class Score:
    reports: int = 0
    right: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FIELDS, 0))
    misses: list[tuple[str, str, str]] = field(default_factory=list)  # (id, field, what the parser said)
    silent_wrong_dates: list[str] = field(default_factory=list)  # ids: a wrong date with no flag

    def accuracy(self, name: str) -> float:
        return self.right[name] / self.reports if self.reports else 0.0



def parse_report(report: dict[str, Any], rosters: dict[str, list[str]]) -> ParsedVisit:
    return parse_visit(report["text"], NOW, known_names=rosters[report["roster"]])


def score(reports: Iterable[dict[str, Any]], rosters: dict[str, list[str]]) -> Score:
    result = Score()
    for report in reports:
        parsed = parse_report(report, rosters)
        right = check(report, parsed)
        result.reports += 1
        for name, ok in right.items():
            if ok:
                result.right[name] += 1
            else:
                said = {"person": f"{parsed.name} {parsed.people} guessed={parsed.name_guessed} {parsed.suggestions}",
                        "date": f"{parsed.visited_at:%Y-%m-%d %H:%M} flag={parsed.date_flag!r} "
                                f"date_only={parsed.date_only}",
                        "danger": "、".join(parsed.danger)}.get(name, str(getattr(parsed, name, "")))
                result.misses.append((report["id"], name, said))
        if not right["date"] and not parsed.date_flag:
            result.silent_wrong_dates.append(report["id"])
    return result
