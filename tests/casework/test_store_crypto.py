"""Key handling, encryption, keyed hashes and masking (bot/crypto.py) and how open_store uses them."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest

from bot.config import Settings
from bot.crypto import (
    SecretKeyError,
    Secrets,
    UnavailableSecrets,
    generate_key,
    mask_id,
    mask_phone,
    new_invite_code,
)
from bot.store import CaseRow
from bot.store.connect import open_store
from handlers.casework.store import CaseworkStore
from handlers.workers.store import WorkersStore

PG_URL = "postgresql+asyncpg://nobody@127.0.0.1:1/none"


def settings(tmp_path: Path, **values: str) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path / "data", **values)


def test_masks() -> None:
    assert mask_id("440106199001011234") == "4401**********1234"
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("020-12345678") == "020*****5678"
    assert mask_id("") == mask_phone("") == ""
    assert mask_phone("12345") == "*****"


def test_embedded_key_file_is_created_once_with_mode_600_and_reused(tmp_path: Path) -> None:
    first = Secrets.from_settings(settings(tmp_path))
    key_file = tmp_path / "data" / "secret.key"
    content = key_file.read_text()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(base64.urlsafe_b64decode(content.strip())) == 32
    token = first.encrypt("440106199001011235")
    second = Secrets.from_settings(settings(tmp_path))
    assert key_file.read_text() == content
    assert second.decrypt(token) == "440106199001011235"
    assert second.id_hash("440106199001011235") == first.id_hash("440106199001011235")
    # No temporary files left: only the key and the (empty, owner-only) database file made with the data directory.
    assert sorted(p.name for p in key_file.parent.iterdir()) == ["secret.key", "shegong.db"]


def test_configured_key_wins_and_is_validated(tmp_path: Path) -> None:
    key = generate_key()
    a = Secrets.from_settings(settings(tmp_path, secret_key=key))
    b = Secrets.from_settings(settings(tmp_path, secret_key=key.rstrip("=")))  # padding optional
    assert not (tmp_path / "data" / "secret.key").exists()
    assert b.decrypt(a.encrypt("13812345678")) == "13812345678"
    with pytest.raises(SecretKeyError, match="格式不对"):
        Secrets.from_settings(settings(tmp_path, secret_key="not-a-key"))


def test_postgresql_without_key_says_what_to_set(tmp_path: Path) -> None:
    with pytest.raises(SecretKeyError, match="SHEGONG_SECRET_KEY") as exc:
        Secrets.from_settings(settings(tmp_path, database_url=PG_URL))
    assert "所有进程" in str(exc.value)
    assert not (tmp_path / "data").exists()


async def test_open_store_on_postgresql_without_key_fails_on_first_use(tmp_path: Path, database_url: str) -> None:
    # Policy Q&A keeps working; anything touching personal numbers stops with the operator's instructions.
    if not database_url.startswith("postgresql"):
        pytest.skip("the embedded default makes its own key")
    store = await open_store(settings(tmp_path, database_url=database_url), migrate=True)
    try:
        assert isinstance(store.secrets, UnavailableSecrets)
        assert await store.ping()
        user = await store.user_for("telegram", "resident")  # a policy Q&A dialog keeps its state, in clear
        await store.set_state(user.id, "policy_qa", {"q": "低保怎么申请"})
        assert await store.get_state(user.id) == ("policy_qa", {"q": "低保怎么申请"})
        station = await WorkersStore.of(store).add_station("石牌街社工站")
        with pytest.raises(SecretKeyError, match="SHEGONG_SECRET_KEY"):
            await CaseworkStore.of(store).import_cases(
                station.id, [CaseRow("张桂英", ("低保",), "", "", "", "440106199001011235", "低", "")]
            )
        with pytest.raises(SecretKeyError, match="所有进程"):
            store.secrets.invite_hash("ABCD2345")
    finally:
        await store.close()


async def test_open_store_with_malformed_key_exits(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="格式不对"):
        await open_store(settings(tmp_path, secret_key="short"))


def test_encryption_is_randomised_and_hashes_are_keyed() -> None:
    a, b = Secrets.ephemeral(), Secrets.ephemeral()
    assert a.encrypt("13812345678") != a.encrypt("13812345678")
    assert a.encrypt("") == "" and a.decrypt("") == ""
    assert a.id_hash("44010619520315018x") == a.id_hash("44010619520315018X")
    assert a.id_hash("440106199001011235") != b.id_hash("440106199001011235")
    with pytest.raises(SecretKeyError, match="密钥"):
        b.decrypt(a.encrypt("13812345678"))


def test_invite_codes_are_unambiguous_and_normalised() -> None:
    codes = {new_invite_code() for _ in range(200)}
    assert len(codes) == 200
    assert all(len(c) == 8 and not set(c) & set("01OI") for c in codes)
    s = Secrets.ephemeral()
    assert s.invite_hash(" abcd-2345 ") == s.invite_hash("ABCD2345")


def test_key_file_race_keeps_the_other_process_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot import crypto

    path = tmp_path / "secret.key"
    theirs = generate_key()

    def other_process_won(_src: object, dst: Path) -> None:
        Path(dst).write_text(theirs + "\n")
        raise FileExistsError(dst)

    monkeypatch.setattr(crypto.os, "link", other_process_won)
    assert crypto.load_or_create_key_file(path) == base64.urlsafe_b64decode(theirs)
    assert [p.name for p in tmp_path.iterdir()] == ["secret.key"]


async def test_a_different_key_is_refused_at_start(tmp_path: Path) -> None:
    # A lost secret.key (or one process configured with another key) must not silently write data that
    # the others cannot read.
    store = await open_store(settings(tmp_path))
    await store.close()
    (tmp_path / "data" / "secret.key").unlink()
    with pytest.raises(SystemExit, match="密钥与本数据库中已加密数据所用的密钥不同"):
        await open_store(settings(tmp_path))
    with pytest.raises(SystemExit, match="SHEGONG_SECRET_KEY"):
        await open_store(settings(tmp_path, secret_key=generate_key()))  # same database, yet another key
