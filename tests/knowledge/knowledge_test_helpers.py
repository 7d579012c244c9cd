"""Paths and small file-writing helpers for the knowledge-base tests (imported by the test modules)."""

from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
DEV_KB = SHARED / "eval" / "dev-kb"
DEV_QUESTIONS = SHARED / "eval" / "dev-questions.jsonl"
SEED_PAGE = SHARED / "seed" / "000_4f12c1fdd74d34ba.txt"
PROJECT_QUESTIONS = sorted((REPO / "tests" / "data" / "questions").glob("*.jsonl"))


def write(root: Path, rel: str, text: str, encoding: str = "utf-8") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def markdown(title: str, body: str, *, source: str = "", year: str = "", region: str = "") -> str:
    meta = [f"title: {title}"]
    if source:
        meta.append(f"source: {source}")
    if year:
        meta.append(f"year: {year}")
    if region:
        meta.append(f"region: {region}")
    return "---\n" + "\n".join(meta) + "\n---\n" + body.strip() + "\n"


def project_questions() -> list[dict]:
    items = []
    for path in PROJECT_QUESTIONS:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                items.append(json.loads(line))
    return items
