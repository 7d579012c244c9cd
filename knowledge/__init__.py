"""Policy knowledge base: ingestion, Chinese retrieval and cited answers.

    from knowledge import KnowledgeBase
    kb = KnowledgeBase.from_path("docs/")
    kb.search("低保怎么申请", k=3)   # hits with .path .title .score .text
    kb.answer("低保怎么申请")        # .text .confident .sources
"""

from knowledge.answer import Answer
from knowledge.ingest import Document, IngestError, Passage
from knowledge.kb import Hit, KnowledgeBase

__all__ = ["Answer", "Document", "Hit", "IngestError", "KnowledgeBase", "Passage"]
