"""Data migration: visit notes and ticket texts written before they were protected (issue 13).

Runs at start-up with the secret key (an Alembic migration has no key): ID numbers masked everywhere; ticket
questions and messages, visit notes and the captions and place names of visit photos and locations encrypted
whole (notes whose phone numbers an earlier version sealed in place are opened and encrypted whole); dialog
states (a visit report waiting for 确认) written in clear encrypted, expired ones too, which nobody would
write again before the retention purge. Idempotent
and done once: a shared value records that it finished (a new name for each version of this migration), and
rows already encrypted are recognised, so two processes starting together do no harm.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from bot.crypto import FERNET_PREFIX
from bot.pii import mask_id_numbers, reveal, seal_note
from bot.store.casework_models import Visit, VisitAttachment
from bot.store.database import affected
from bot.store.handoff_models import Ticket, TicketMessage
from bot.store.models import ConversationState, KeyValue

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from bot.store.repos import Store

log = logging.getLogger(__name__)
# :1 sealed only the phone numbers of visit notes, :2 left dialog states in clear
DONE_KEY = "data_migration:free_text_protected:3"
BATCH = 500
VISIT_NOTES = ("findings", "needs", "services", "follow_up")


async def protect_legacy_free_text(store: Store) -> dict[str, int]:
    """Protect what was written in clear; {table: rows changed}. Nothing to do once it has run."""
    if await store.get_shared(DONE_KEY) is not None:
        return {}
    encrypt = store.secrets.encrypt
    counts = {"tickets": 0, "ticket_messages": 0, "visits": 0, "visit_attachments": 0, "conversation_states": 0}
    async with store.session.begin() as s:
        rows = (await s.execute(select(Ticket.id, Ticket.question).where(
            Ticket.question != "", ~Ticket.question.startswith(FERNET_PREFIX)))).all()
        for ticket_id, question in rows:
            await s.execute(update(Ticket).where(Ticket.id == ticket_id)
                            .values(question=encrypt(mask_id_numbers(question))))
        counts["tickets"] = len(rows)
        rows = (await s.execute(select(TicketMessage.id, TicketMessage.text).where(
            TicketMessage.text != "", ~TicketMessage.text.startswith(FERNET_PREFIX)))).all()
        for message_id, text in rows:
            await s.execute(update(TicketMessage).where(TicketMessage.id == message_id)
                            .values(text=encrypt(mask_id_numbers(text))))
        counts["ticket_messages"] = len(rows)
        decrypt = store.secrets.decrypt

        def protect(note: str) -> str:
            return seal_note(reveal(note, decrypt, masked=False), encrypt)

        counts["visits"] = await _in_batches(s, Visit, VISIT_NOTES, protect)
        counts["visit_attachments"] = await _in_batches(s, VisitAttachment, ("label",), protect)
        S = ConversationState
        for user_id, data, updated_at in (await s.execute(select(S.user_id, S.data, S.updated_at))).all():
            if isinstance(data, dict):
                # Only if unchanged since read: another process's hot path may have just written a newer state.
                done = await s.execute(update(S).where(S.user_id == user_id, S.updated_at == updated_at)
                                       .values(data=store.seal_state(data)))
                counts["conversation_states"] += affected(done)
        stmt = store.insert(KeyValue).values(key=DONE_KEY, value=store.clock.now().isoformat(), expires_at=None)
        await s.execute(stmt.on_conflict_do_nothing())
    if any(counts.values()):
        log.info("free text protected", extra=counts)
    return counts


async def _in_batches(s: AsyncSession, table: Any, columns: tuple[str, ...], protect: Callable[[str], str]) -> int:
    """Protect some text columns of every row, in batches (a station's visit history can be long); returns how
    many rows changed."""
    changed_rows, last = 0, 0
    while True:
        batch = (await s.execute(select(table.id, *(getattr(table, c) for c in columns))
                                 .where(table.id > last).order_by(table.id).limit(BATCH))).all()
        if not batch:
            return changed_rows
        for row_id, *values in batch:
            clear = [(c, v) for c, v in zip(columns, values, strict=True) if v and not v.startswith(FERNET_PREFIX)]
            changed = {c: protect(v) for c, v in clear}
            if changed:
                await s.execute(update(table).where(table.id == row_id).values(**changed))
                changed_rows += 1
        last = batch[-1][0]
