"""`shegong kb ingest|list|remove`: the knowledge base's administration, on the bot's own database."""

from __future__ import annotations

import sys
from dataclasses import asdict
from datetime import date
from pathlib import Path

from tqdm import tqdm

from bot.config import Settings
from bot.store import StoredDocument
from bot.store.connect import open_store
from knowledge.check import RegulationsError, check_texts, print_report
from knowledge.ingest import Document, iter_files, load_tree
from knowledge.kb import BUILTIN_DOCS


def _stored_path(root: Path, rel: str) -> str:
    # A folder's documents keep the folder's name in front, so two folders cannot collide.
    return rel if root.is_file() else f"{root.resolve().name}/{rel}"


def stored_document(doc: Document, path: str, region: str = "") -> StoredDocument:
    """What the database keeps of a parsed document, provenance included (sources, reviewed, aliases)."""
    sources = tuple({k: v for k, v in asdict(source).items() if v} for source in doc.sources)
    return StoredDocument(path, doc.title, doc.source, doc.year, doc.region or region, doc.body, doc.content_hash,
                          sources, doc.reviewed, doc.aliases, doc.front_matter)


async def ingest_paths(settings: Settings, roots: list[Path], region: str = "") -> int:
    store = await open_store(settings)
    builtin_hashes = {d.content_hash: d.path for d in load_tree(BUILTIN_DOCS).documents}
    counts = {"added": 0, "updated": 0, "unchanged": 0}
    skipped: list[tuple[str, str]] = []
    try:
        for root in roots:
            if not root.exists():
                skipped.append((str(root), "路径不存在"))
                continue
            # The data directory holds the database and the encryption key: nothing in it is ever published.
            private = (settings.data_dir,)
            total = sum(1 for _ in iter_files(root, exclude=private))
            with tqdm(total=total, desc=f"解析 {root.name or root}", unit="个文件", file=sys.stderr) as bar:
                report = load_tree(root, progress=lambda _: bar.update(), exclude=private)
            skipped += [(_stored_path(root, p), why) for p, why in report.skipped]
            for doc in report.documents:
                path = _stored_path(root, doc.path)
                if (same := builtin_hashes.get(doc.content_hash)) is not None:
                    skipped.append((path, f"与内置文档 {same} 内容相同，未重复收录"))
                    continue
                if (same := await store.document_with_hash(doc.content_hash)) not in (None, path):
                    skipped.append((path, f"与已导入的 {same} 内容相同，未重复收录"))
                    continue
                outcome = await store.save_document(stored_document(doc, path, region))
                counts[outcome] += 1
    finally:
        await store.close()
    print(f"导入完成：新增 {counts['added']} 篇，更新 {counts['updated']} 篇，未变 {counts['unchanged']} 篇，"
          f"跳过 {len(skipped)} 个文件。")
    if skipped:
        print("跳过的文件：")
        for path, why in skipped:
            print(f"  {path}：{why}")
    if sum(counts.values()) == 0 and skipped:
        return 1
    return 0


async def list_documents(settings: Settings, as_json: bool = False) -> int:
    import json

    store = await open_store(settings)
    try:
        stored = await store.list_documents()
    finally:
        await store.close()
    rows = [("内置", d.path, d.title, d.year, d.region) for d in load_tree(BUILTIN_DOCS).documents]
    rows += [("导入", d.path, d.title, d.year, d.region) for d in stored]
    if as_json:
        for kind, path, title, year, region in rows:
            print(json.dumps({"origin": "builtin" if kind == "内置" else "ingested", "path": path, "title": title,
                              "year": year, "region": region}, ensure_ascii=False))
        return 0
    for kind, path, title, year, region in rows:
        print(f"[{kind}] {path}  《{title}》 {year or '-'} {region or '-'}")
    print(f"共 {len(rows)} 篇（内置 {len(rows) - len(stored)}，导入 {len(stored)}）")
    return 0


async def remove_documents(settings: Settings, paths: list[str]) -> int:
    builtin = {d.path for d in load_tree(BUILTIN_DOCS).documents}
    store = await open_store(settings)
    missing = 0
    try:
        for path in paths:
            removed = await store.remove_documents(path)
            if removed:
                print(f"已删除 {len(removed)} 篇：" + "、".join(removed))
            elif path in builtin:
                print(f"{path} 是内置文档，不能删除；如不想使用内置文档，请设置 SHEGONG_KB_BUILTIN=false。")
                missing += 1
            else:
                print(f"没有找到已导入的文档：{path}（用 shegong kb list 查看）")
                missing += 1
    finally:
        await store.close()
    return 1 if missing else 0


async def check_ingested(settings: Settings, today: date, as_json: bool = False) -> int:
    """`shegong kb check --ingested`: the ingested documents, read back from the database as they were written
    (front matter and body), against the same rules as the built-in ones. Their links may lead to built-in
    documents too."""
    store = await open_store(settings)
    try:
        stored = await store.list_documents()
    finally:
        await store.close()
    # Only Markdown carries front matter; a web page or text file has no sources to check, and says so.
    texts = {d.path: d.front_matter + d.body for d in stored}
    builtin = load_tree(BUILTIN_DOCS).documents
    served = {d.path for d in builtin} | {alias for d in builtin for alias in d.aliases}
    try:
        report = check_texts(texts, today, also_served=served)
    except RegulationsError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    return print_report(report, as_json)
