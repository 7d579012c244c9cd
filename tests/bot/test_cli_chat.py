"""`shegong chat` and `shegong db upgrade` as a new user runs them: a real process, the embedded database."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path


def run(args: list[str], tmp_path: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SHEGONG_DATA_DIR": str(tmp_path / "data"), "SHEGONG_DATABASE_URL": ""}
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], input=stdin, capture_output=True,
                          text=True, env=env, timeout=120, cwd=tmp_path)


def test_chat_with_piped_input_answers_each_line(tmp_path: Path) -> None:
    result = run(["chat"], tmp_path, stdin="低保怎么申请\n帮助\n今日恒指几多点\n")
    assert result.returncode == 0, result.stderr
    blocks = [b for b in result.stdout.strip().split("\n\n") if b.strip()]
    assert "来源" in result.stdout
    assert "社工助手" in result.stdout
    assert "不太确定" in blocks[-1] or "不太确定" in result.stdout.split("社工助手")[-1]
    # The embedded database was created and migrated on first use.
    db = tmp_path / "data" / "shegong.db"
    assert db.exists()
    version = sqlite3.connect(db).execute("SELECT version_num FROM alembic_version").fetchone()[0]
    assert version


def test_chat_button_number_selects_quick_reply(tmp_path: Path) -> None:
    result = run(["chat"], tmp_path, stdin="帮助\n4\n")
    assert result.returncode == 0, result.stderr
    assert "[4] 找社工" in result.stdout
    assert "12345" in result.stdout.split("[4] 找社工")[-1]


def test_db_upgrade_reports_revision(tmp_path: Path) -> None:
    result = run(["db", "upgrade"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "最新版本" in result.stdout
