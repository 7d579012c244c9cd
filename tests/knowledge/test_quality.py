"""Retrieval quality targets on the shared development set and on the project's own question set.

These are targets: if the engine falls below them the test fails with the current numbers and misses.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from knowledge_test_helpers import PROJECT_QUESTIONS

from knowledge import KnowledgeBase
from knowledge.evaluate import EvalReport, evaluate, format_report


def _explain(report: EvalReport) -> str:
    return format_report(report, verbose=True)


@pytest.fixture(scope="module")
def dev_report(dev_set) -> EvalReport:
    dev_kb, dev_questions = dev_set
    return evaluate(KnowledgeBase.from_path(dev_kb), dev_questions)


@pytest.fixture(scope="module")
def project_report(builtin_kb, tmp_path_factory) -> EvalReport:
    assert PROJECT_QUESTIONS, "tests/data/questions/*.jsonl is missing"
    combined: Path = tmp_path_factory.mktemp("questions") / "all.jsonl"
    combined.write_text(
        "".join(p.read_text(encoding="utf-8").rstrip("\n") + "\n" for p in PROJECT_QUESTIONS), encoding="utf-8")
    return evaluate(builtin_kb, combined)


def test_dev_set_is_the_expected_shape(dev_report):
    assert dev_report.answerable >= 20
    assert dev_report.no_answer >= 3


def test_dev_set_hit_at_1(dev_report):
    assert dev_report.hit1 / dev_report.answerable >= 0.95, _explain(dev_report)


def test_dev_set_refuses_every_no_answer_question(dev_report):
    assert dev_report.refused == dev_report.no_answer, _explain(dev_report)


def test_project_set_is_the_expected_shape(project_report):
    assert project_report.answerable >= 180
    assert project_report.no_answer >= 10


def test_project_set_hit_at_1(project_report):
    assert project_report.hit1 / project_report.answerable >= 0.85, _explain(project_report)


def test_project_set_hit_at_3(project_report):
    assert project_report.hit3 / project_report.answerable >= 0.95, _explain(project_report)


def test_project_set_refuses_every_no_answer_question(project_report):
    assert project_report.refused == project_report.no_answer, _explain(project_report)


def test_metrics_are_consistent(project_report):
    j = project_report.as_json()
    assert 0 <= j["hit@1"] <= j["mrr"] <= j["hit@3"] <= 1
    assert project_report.answerable + project_report.no_answer == j["questions"]
