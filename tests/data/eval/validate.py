"""Check the evaluation set in this directory against the built-in knowledge base.

Run from the repository root: ``python tests/data/eval/validate.py [FILE ...]``.
Checks contract D: every expected path exists under knowledge/docs, every section is the exact text of a ``## ``
heading of one of the expected documents, styles and referral keys are known, no question appears twice.
Exit status 1 and one line per problem (file:line: what) when something is wrong.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

EVAL_DIR = Path(__file__).resolve().parent
DOCS_DIR = EVAL_DIR.parents[2] / "knowledge" / "docs"
STYLES = {"standard", "cantonese", "traditional", "typo", "spoken", "short"}
REFER_KEYS = {"医保", "人社", "法律援助", "妇联", "公安", "反诈", "住建", "教育", "残联", "卫健", "12345"}
QUESTION_KEYS = {"q", "expect", "section", "style"}
TURN_KEYS = {"q", "expect", "section", "note"}
HEADING = re.compile(r"^## (.+?)\s*$")


def document_headings(path: str) -> set[str] | None:
    """The ``## `` headings of a built-in document, or None when the document does not exist."""
    file = DOCS_DIR / path
    if not file.is_file():
        return None
    headings: set[str] = set()
    in_fence = False
    for line in file.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_fence = not in_fence
        elif not in_fence and (match := HEADING.match(line)):
            headings.add(match.group(1))
    return headings


def check_target(expect: Any, section: Any, allow_empty: bool) -> list[str]:
    """Problems with one expected-documents/section pair."""
    if not isinstance(expect, list) or not all(isinstance(p, str) for p in expect):
        return ["expect must be a list of document paths"]
    if not expect and not allow_empty:
        return ["expect is empty"]
    if section is not None and not isinstance(section, str):
        return ["section must be a string or null"]
    problems: list[str] = []
    headings: set[str] = set()
    for path in expect:
        found = document_headings(path)
        if found is None:
            problems.append(f"no document knowledge/docs/{path}")
        else:
            headings |= found
    if section is not None and not expect:
        problems.append("section given without an expected document")
    elif section is not None and not problems and section not in headings:
        problems.append(f"section {section!r} is not a heading of {expect}")
    return problems


def normalise(question: str) -> str:
    return re.sub(r"[\s，。？！,.?!]", "", question)


def check_file(file: Path, seen: dict[str, str]) -> list[str]:
    problems: list[str] = []
    conversation_ids: set[str] = set()
    is_conversations = file.name.startswith("conversations")
    is_uncovered = file.name.startswith("uncovered")
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
        where = f"{file.name}:{number}"
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"{where}: not JSON ({exc})")
            continue
        if item.get("style") not in STYLES:
            problems.append(f"{where}: unknown style {item.get('style')!r}")
        if is_conversations:
            conversation_id = str(item.get("id", ""))
            if not conversation_id or conversation_id in conversation_ids:
                problems.append(f"{where}: missing or repeated id {conversation_id!r}")
            conversation_ids.add(conversation_id)
            turns = item.get("turns")
            if not isinstance(turns, list) or not 2 <= len(turns) <= 4:
                problems.append(f"{where}: a conversation has 2-4 turns")
                continue
            for index, turn in enumerate(turns, start=1):
                if set(turn) - TURN_KEYS or not isinstance(turn.get("q"), str):
                    problems.append(f"{where}: turn {index} has keys {sorted(turn)}")
                    continue
                for problem in check_target(turn.get("expect"), turn.get("section"), allow_empty=True):
                    problems.append(f"{where}: turn {index}: {problem}")
            continue
        keys = QUESTION_KEYS | ({"refer"} if is_uncovered else set())
        if set(item) != keys or not isinstance(item["q"], str) or not item["q"].strip():
            problems.append(f"{where}: keys must be {sorted(keys)}")
            continue
        if is_uncovered:
            if item["expect"] or item["section"] is not None:
                problems.append(f"{where}: an uncovered question expects no document and no section")
            if item["refer"] not in REFER_KEYS:
                problems.append(f"{where}: unknown referral key {item['refer']!r}")
        else:
            problems.extend(f"{where}: {p}" for p in check_target(item["expect"], item["section"], allow_empty=False))
        key = normalise(item["q"])
        if key in seen:
            problems.append(f"{where}: same question as {seen[key]}")
        seen[key] = where
    return problems


def main(argv: list[str]) -> int:
    files = [Path(a) for a in argv] or sorted(EVAL_DIR.glob("*.jsonl"))
    seen: dict[str, str] = {}
    problems = [p for file in files for p in check_file(file, seen)]
    for problem in problems:
        print(problem)
    print(f"{len(files)} files, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
