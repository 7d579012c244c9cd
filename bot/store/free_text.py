"""Data migration: visit notes and ticket texts written before they were protected (issue 13).

Runs at start-up with the secret key (an Alembic migration has no key): ID numbers masked everywhere; ticket
questions and messages encrypted whole; phone numbers in visit notes sealed in place (the rest of a note stays
searchable for the reminder rules). Idempotent and done once: a shared value records that it finished, and
rows already protected are recognised, so two processes starting together do no harm.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from bot.crypto import FERNET_PREFIX
from bot.pii import mask_id_numbers, protect_note
from bot.store.casework_models import Visit
from bot.store.handoff_models import Ticket, TicketMessage
from bot.store.models import KeyValue

if TYPE_CHECKING:
    from bot.store.repos import Store

log = logging.getLogger(__name__)
DONE_KEY = "data_migration:free_text_protected"
BATCH = 500
VISIT_NOTES = ("findings", "needs", "services", "follow_up")


async def protect_legacy_free_text(store: Store) -> dict[str, int]:
    """Protect what was written in clear; {table: rows changed}. Nothing to do once it has run."""
    if await store.get_shared(DONE_KEY) is not None:
        return {}
    encrypt = store.secrets.encrypt
    counts = {"tickets": 0, "ticket_messages": 0, "visits": 0}
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
        protect = functools.partial(protect_note, encrypt=encrypt)
        last = 0
        while True:  # in batches: a station's visit history can be long
            batch = (await s.execute(select(Visit.id, *(getattr(Visit, c) for c in VISIT_NOTES))
                                     .where(Visit.id > last).order_by(Visit.id).limit(BATCH))).all()
            if not batch:
                break
            for visit_id, *notes in batch:
                changed = {column: protect(note) for column, note in zip(VISIT_NOTES, notes, strict=True)
                           if note and protect(note) != note}
                if changed:
                    await s.execute(update(Visit).where(Visit.id == visit_id).values(**changed))
                    counts["visits"] += 1
            last = batch[-1][0]
        stmt = store.insert(KeyValue).values(key=DONE_KEY, value=store.clock.now().isoformat(), expires_at=None)
        await s.execute(stmt.on_conflict_do_nothing())
    if any(counts.values()):
        log.info("free text protected", extra=counts)
    return counts
