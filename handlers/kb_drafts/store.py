"""Knowledge-base drafts made from answered tickets, and their publication."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from bot.pii import scrub_for_publication
from bot.store.casework_models import Case
from bot.store.casework_records import aware
from bot.store.database import affected
from bot.store.handoff_models import KbDraft, Ticket, TicketMessage
from bot.store.handoff_records import (
    DraftRecord,
    TicketRecord,
)
from handlers.privacy.store import draft_key_prefix

if TYPE_CHECKING:
    pass
from handlers.handoff.store import HandoffStore

Payload = dict[str, Any]
MAX_TEXT = 2000
def _ticket(row: Ticket, station_name: str) -> TicketRecord:
    return TicketRecord(row.id, row.station_id, station_name, row.user_id, row.channel, row.chat_id, row.question,
                        row.status, row.worker_id, aware(row.created_at), aware(row.last_activity_at),
                        aware(row.first_reply_at) if row.first_reply_at else None,
                        aware(row.closed_at) if row.closed_at else None)


def _draft(row: KbDraft) -> DraftRecord:
    return DraftRecord(row.id, row.station_id, row.ticket_id, row.worker_id, row.question, row.answer, row.status,
                       row.document_path)



class KbDraftStore(HandoffStore):
    """Drafts are made from a station's tickets, so this store reads tickets the way handoff does."""

    # -- knowledge-base drafts ----------------------------------------------------------------
    async def create_draft(self, ticket_id: int, worker_id: int, station_id: int, notice: Callable[[int], Payload],
                           leads: list[tuple[str, str]]) -> DraftRecord | str:
        """`收录 N`: the question and the workers' replies become a draft; the leads are told. Or why not:
        "missing" (not this station's ticket), "no_answer" (no worker replied), "no_question" (deleted)."""
        async with self.session.begin() as s:
            found = await self._station_ticket(s, ticket_id, station_id)
            if found is None:
                return "missing"
            row, _ = found
            replies = [self.secrets.open_text(t) for t in (await s.execute(select(TicketMessage.text).where(
                TicketMessage.ticket_id == ticket_id, TicketMessage.sender == "worker").order_by(TicketMessage.id)
            )).scalars()]
            if not row.question:
                return "no_question"
            if not replies:
                return "no_answer"
            # Published answers are read by anyone: no name of the station's residents, no number, no address.
            residents = set((await s.execute(select(Case.name).where(Case.station_id == station_id))).scalars())
            question = scrub_for_publication(self.secrets.open_text(row.question), residents)
            draft = KbDraft(station_id=station_id, ticket_id=ticket_id, worker_id=worker_id, question=question,
                            answer=scrub_for_publication("\n".join(replies), residents), status="draft",
                            created_at=self.clock.now(), document_path="")
            s.add(draft)
            await s.flush()
            await self._queue(s, leads, notice(draft.id), draft_key_prefix(draft.id) + "new")
            return _draft(draft)

    async def draft_for_station(self, draft_id: int, station_id: int) -> DraftRecord | None:
        async with self.session() as s:
            row = await s.get(KbDraft, draft_id)
            return _draft(row) if row is not None and row.station_id == station_id else None

    async def mark_draft_published(self, draft_id: int, lead_id: int, path: str) -> bool:
        async with self.session.begin() as s:
            stmt = (update(KbDraft).where(KbDraft.id == draft_id, KbDraft.status == "draft")
                    .values(status="published", published_at=self.clock.now(), published_by=lead_id,
                            document_path=path))
            return affected(await s.execute(stmt)) == 1
