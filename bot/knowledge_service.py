"""The knowledge base as the bot sees it: built-in documents, extra folders and ingested documents.

Several server processes share one database, so each one notices documents ingested elsewhere by
checking a cheap revision number at most every `RECHECK_SECONDS` and rebuilding in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from bot.background import BackgroundLoop
from bot.store import Store, StoredDocument
from knowledge import Document, KnowledgeBase
from knowledge.ingest import load_tree, parse_aliases, parse_sources, split_passages
from knowledge.kb import BUILTIN_DOCS

log = logging.getLogger(__name__)
RECHECK_SECONDS = 30.0


def stored_to_document(stored: StoredDocument) -> Document:
    """An ingested document as the knowledge base uses it: with its sources, review date and old paths, like a
    built-in one (its page lists them, its old addresses redirect)."""
    sources = parse_sources([dict(entry) for entry in stored.sources])
    doc = Document(stored.path, stored.title, stored.body, stored.source, stored.year, stored.region,
                   sources=sources, reviewed=stored.reviewed, aliases=parse_aliases(list(stored.aliases)),
                   front_matter=stored.front_matter)
    doc.passages = list(split_passages(doc))
    return doc


class KnowledgeService:
    def __init__(self, store: Store, builtin: bool = True, extra_dirs: tuple[Path, ...] = (),
                 exclude: tuple[Path, ...] = ()) -> None:
        self.store = store
        self.builtin = builtin
        self.extra_dirs = extra_dirs
        self.exclude = exclude  # folders never read from, whatever the extra folders contain (the data directory)
        self._kb: KnowledgeBase | None = None
        self._revision: object = None
        self._checked = 0.0
        self._lock = asyncio.Lock()

    def _file_documents(self) -> list[Document]:
        docs: list[Document] = []
        roots = ([BUILTIN_DOCS] if self.builtin else []) + list(self.extra_dirs)
        for root in roots:
            docs.extend(load_tree(root, exclude=self.exclude).documents)
        return docs

    async def load(self) -> KnowledgeBase:
        async with self._lock:
            revision = await self.store.documents_revision()
            stored = await self.store.list_documents()
            file_docs = await asyncio.to_thread(self._file_documents)
            taken = {d.path for d in file_docs}
            docs = file_docs + [stored_to_document(s) for s in stored if s.path not in taken]
            self._kb = await asyncio.to_thread(KnowledgeBase, docs)
            self._revision, self._checked = revision, time.monotonic()
            log.info("knowledge base loaded: %d documents, %d passages in %.2f s",
                     len(docs), len(self._kb.passages), self._kb.build_seconds)
            return self._kb

    def current(self) -> KnowledgeBase:
        if self._kb is None:
            raise RuntimeError("knowledge base not loaded yet")
        return self._kb

    @property
    def loaded(self) -> bool:
        return self._kb is not None

    async def refresh_if_changed(self) -> bool:
        if time.monotonic() - self._checked < RECHECK_SECONDS:
            return False
        self._checked = time.monotonic()
        if await self.store.documents_revision() != self._revision:
            await self.load()
            return True
        return False


class KnowledgeRefresh(BackgroundLoop):
    """Documents ingested by another process show up in this one within `interval` seconds."""

    name = "knowledge refresh"

    def __init__(self, knowledge: KnowledgeService, interval: float = 5.0) -> None:
        super().__init__(interval)
        self.knowledge = knowledge

    async def tick(self) -> None:
        await self.knowledge.refresh_if_changed()
