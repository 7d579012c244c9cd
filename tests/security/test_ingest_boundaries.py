"""Issue 13, point 6: `kb ingest` and the documents served at /docs take only what is meant to be published —
regular files really inside the given folder. Symbolic links, hidden files, anything resolving outside the
folder and anything in the data directory (where secret.key lives) are refused and reported."""

from __future__ import annotations

import os
from pathlib import Path

import aiohttp
import pytest
from live_app import serve_services

from bot.app import open_store
from bot.clock import FrozenClock
from bot.config import Settings
from bot.crypto import generate_key
from bot.kb_admin import ingest_paths
from knowledge.ingest import load_tree

SECRET_MARK = "绝密内容"
KEY = generate_key()
PASSWD_MARK = "本机账户列表"


def doc(title: str, body: str) -> str:
    return f"---\ntitle: {title}\nregion: 广东省\n---\n# {title}\n\n{body}\n"


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    """A folder to ingest, with every trick from the report; returns (folder, data directory)."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "secret.key").write_text(KEY + "\n", encoding="ascii")  # what the embedded database keeps there
    (data / "notes.md").write_text(
        doc("数据目录里的文档", SECRET_MARK + "，放在数据目录里的文档也不导入。"), encoding="utf-8"
    )
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "passwd.md").write_text(
        doc("账户", PASSWD_MARK + "，这是导入目录之外的文件，不应被导入。"), encoding="utf-8"
    )
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "dibao.md").write_text(
        doc("低保申请", "低保申请要向户籍所在地的镇（街）提出书面申请，具体以当地民政部门公布为准。"), encoding="utf-8"
    )
    (folder / "key.md").symlink_to(data / "secret.key")
    (folder / "notes.md").symlink_to(data / "notes.md")
    (folder / "passwd.md").symlink_to(outside / "passwd.md")
    (folder / "linked").symlink_to(outside, target_is_directory=True)
    (folder / ".hidden.md").write_text(
        doc("隐藏", SECRET_MARK + "，隐藏文件也不应被导入，哪怕内容完整。"), encoding="utf-8"
    )
    (folder / ".git").mkdir()
    (folder / ".git" / "notes.md").write_text(
        doc("版本库", SECRET_MARK + "，隐藏文件夹里的文件也不导入。"), encoding="utf-8"
    )
    os.link(data / "secret.key", folder / "hardlink.md")  # the same file under another name
    os.mkfifo(folder / "pipe.md")  # reading a FIFO would block the ingest forever
    return folder, data


def test_only_regular_files_inside_the_folder_are_read(tree: tuple[Path, Path]) -> None:
    folder, data = tree
    report = load_tree(folder, exclude=(data,))
    assert [d.path for d in report.documents] == ["dibao.md"]
    skipped = dict(report.skipped)
    assert set(skipped) == {"key.md", "notes.md", "passwd.md", "linked", "hardlink.md", "pipe.md"}
    assert all("符号链接" in skipped[p] for p in ("key.md", "notes.md", "passwd.md", "linked"))
    assert "数据目录" in skipped["hardlink.md"] and "普通文件" in skipped["pipe.md"]
    # Hidden files and folders under the folder are left out without a word (.git, editor files)...
    hidden = tree[0] / ".env"
    hidden.write_text("SHEGONG_SECRET_KEY=" + KEY + "\n", encoding="utf-8")
    # ...and one named on its own is refused with the reason.
    assert load_tree(hidden, exclude=(data,)).skipped == [(".env", "是隐藏文件或文件夹，未导入")]


def test_the_data_directory_itself_is_never_read(tree: tuple[Path, Path]) -> None:
    _, data = tree
    for root in (data, data / "notes.md", data / "secret.key", data.parent):
        report = load_tree(root, exclude=(data,))
        assert all(SECRET_MARK not in d.body and KEY not in d.body for d in report.documents), root


async def test_kb_ingest_publishes_only_the_real_document(
    tree: tuple[Path, Path], tmp_path: Path, clock: FrozenClock, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, data = tree
    settings = Settings(data_dir=data, database_url=f"sqlite+aiosqlite:///{data / 'shegong.db'}", _env_file=None)
    assert await ingest_paths(settings, [folder, data]) == 0
    printed = capsys.readouterr().out
    assert "docs/key.md：是符号链接" in printed and "docs/passwd.md：是符号链接" in printed
    store = await open_store(settings, clock)
    try:
        stored = await store.list_documents()
    finally:
        await store.close()
    assert [d.path for d in stored] == ["docs/dibao.md"]
    assert all(mark not in d.body for d in stored for mark in (SECRET_MARK, PASSWD_MARK, KEY))
    async with serve_services(settings, clock) as (url, _), aiohttp.ClientSession() as http:
        async with http.get(f"{url}/docs/docs/dibao.md") as r:
            assert r.status == 200
        for path in (
            "docs/key.md",
            "docs/notes.md",
            "docs/passwd.md",
            "docs/linked/passwd.md",
            "docs/hardlink.md",
            "data/secret.key",
            "data/notes.md",
        ):
            async with http.get(f"{url}/docs/{path}") as r:
                assert r.status == 404, path


async def test_extra_document_folders_serve_only_what_is_really_in_them(
    tree: tuple[Path, Path], tmp_path: Path, clock: FrozenClock
) -> None:
    folder, data = tree
    settings = Settings(
        data_dir=data,
        database_url=f"sqlite+aiosqlite:///{data / 'shegong.db'}",
        kb_extra_dirs=f"{folder},{data}",
        kb_builtin=False,
        _env_file=None,
    )
    async with serve_services(settings, clock) as (url, services), aiohttp.ClientSession() as http:
        served = [d.path for d in services.knowledge.current().documents]
        assert served == ["dibao.md"]
        async with http.get(f"{url}/docs/dibao.md") as r:
            assert r.status == 200
        for path in ("key.md", "notes.md", "passwd.md", "linked/passwd.md", "hardlink.md", ".hidden.md", "secret.key"):
            async with http.get(f"{url}/docs/{path}") as r:
                assert r.status == 404 and SECRET_MARK not in await r.text(), path
