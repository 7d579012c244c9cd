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


# -- the labelled evaluation set (contract D: tests/data/eval) -------------------------------------------------
# Floors just under the measured numbers (docs/benchmarks.md, "Answers"), so that a change that makes answers worse
# fails here; issue 11's targets are higher (section 0.85, document 0.93) and not reached yet.
EVAL_DIR = Path(__file__).resolve().parents[1] / "data" / "eval"


@pytest.fixture(scope="module")
def answers_report(builtin_kb) -> EvalReport:
    if not any(EVAL_DIR.glob("*.jsonl")):
        pytest.skip(f"no evaluation set in {EVAL_DIR}")
    return evaluate(builtin_kb, EVAL_DIR)


def test_eval_set_answers_the_asked_section(answers_report):
    j = answers_report.as_json()
    assert j["hit@1"] >= 0.84 and j["section@1"] >= 0.70, _explain(answers_report)
    # The section alone, given the right document (the document is the ranking's part).
    assert j["section_given_document"] >= 0.84, _explain(answers_report)


def test_eval_set_is_honest_outside_the_knowledge_base(answers_report):
    j = answers_report.as_json()
    assert j["confident_uncovered"] <= 0.05, _explain(answers_report)
    assert j["referral_right"] >= 0.85, _explain(answers_report)
    assert j["wrongly_refused"] <= 0.04, _explain(answers_report)


def test_eval_set_follow_ups_keep_the_topic(answers_report):
    assert answers_report.as_json()["follow_up_accuracy"] >= 0.84, _explain(answers_report)
