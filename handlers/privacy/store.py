"""Consent, `删除我的信息` and the retention purge.

What a resident wrote can sit in: conversation state (dialog data), tickets (question), ticket messages,
the outbox (late answers to them, worker notices and relayed copies: keyed `handoff:<ticket>:…`) and
knowledge-base drafts made from their ticket. Cases (服务对象) are the station's records and stay.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import delete, or_, select, tuple_, update

from bot.store.casework_models import AuditEntry, WorkerIdentity
from bot.store.database import affected
from bot.store.feature import FeatureStore
from bot.store.handoff_models import KbDraft, ResidentProfile, Ticket, TicketMessage
from bot.store.models import ConversationState, KbDocument, OutboxMessage, SeenMessage, User

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession
    from sqlalchemy.sql import ColumnElement


def ticket_key_prefix(ticket_id: int) -> str:
    """Every outbox row carrying a ticket's text has a dedup key starting with this."""
    return f"handoff:{ticket_id}:"


def draft_key_prefix(draft_id: int) -> str:
    return f"kbdraft:{draft_id}:"


class PrivacyStore(FeatureStore):
    async def mark_notice_shown(self, user_id: int) -> None:
        async with self.session.begin() as s:
            await self.store.upsert_profile(s, user_id, notice_at=self.clock.now())

    async def record_consent(self, user_id: int) -> None:
        async with self.session.begin() as s:
            await self.store.upsert_profile(s, user_id, consented_at=self.clock.now())

    async def delete_resident(self, user_id: int) -> dict[str, int]:
        """Remove the chat identity with its profile and dialog state, blank its tickets' texts, delete their
        messages, the drafts made from them and the answers published from those, and every outbox copy, sent
        or pending. Tickets stay (without text) for the statistics."""
        now = self.clock.now()
        async with self.session.begin() as s:
            user = await s.get(User, user_id)
            if user is None:
                return {}
            tickets = (
                await s.execute(select(Ticket.id, Ticket.channel, Ticket.chat_id).where(Ticket.user_id == user_id))
            ).all()
            ids = [t.id for t in tickets]
            chats = {(user.channel, user.platform_user_id)} | {(t.channel, t.chat_id) for t in tickets}
            # Every draft made from their tickets, published ones included: a published answer quotes them.
            found = (await s.execute(select(KbDraft.id, KbDraft.document_path).where(KbDraft.ticket_id.in_(ids)))).all()
            drafts = [draft_id for draft_id, _ in found]
            published = sorted({path for _, path in found if path})
            keys = [OutboxMessage.dedup_key.startswith(ticket_key_prefix(i), autoescape=True) for i in ids]
            keys += [OutboxMessage.dedup_key.startswith(draft_key_prefix(i), autoescape=True) for i in drafts]
            outbox = await s.execute(
                delete(OutboxMessage).where(
                    or_(tuple_(OutboxMessage.channel, OutboxMessage.chat_id).in_(sorted(chats)), *keys)
                )
            )
            await s.execute(delete(KbDraft).where(KbDraft.id.in_(drafts)))
            documents = await s.execute(delete(KbDocument).where(KbDocument.path.in_(published)))
            messages = await s.execute(delete(TicketMessage).where(TicketMessage.ticket_id.in_(ids)))
            await _blank_tickets(s, Ticket.id.in_(ids), "deleted", now)
            await s.execute(delete(ConversationState).where(ConversationState.user_id == user_id))
            await s.execute(delete(ResidentProfile).where(ResidentProfile.user_id == user_id))
            await s.execute(delete(User).where(User.id == user_id))
            counts = {
                "tickets": len(ids),
                "messages": affected(messages),
                "outbox": affected(outbox),
                "drafts": len(drafts),
                "published": affected(documents),
            }
            s.add(
                AuditEntry(
                    at=now,
                    worker_id=None,
                    actor="resident",
                    action="privacy.delete",
                    target="",
                    detail=counts,
                    flagged=False,
                )
            )
            return counts

    async def purge_before(self, cutoff: datetime) -> dict[str, int]:
        """Conversation logs last touched before `cutoff`: ticket messages and texts, sent or failed outbox
        rows, stale dialog state, dedup keys and drafts nobody published."""
        now = self.clock.now()
        async with self.session.begin() as s:
            counts = {
                "ticket_messages": affected(
                    await s.execute(delete(TicketMessage).where(TicketMessage.created_at < cutoff))
                ),
                "tickets": await _blank_tickets(
                    s, (Ticket.last_activity_at < cutoff) & (Ticket.question != ""), "retention", now
                ),
                "outbox": affected(
                    await s.execute(
                        delete(OutboxMessage).where(
                            OutboxMessage.created_at < cutoff, OutboxMessage.status != "pending"
                        )
                    )
                ),
                "conversation_states": affected(
                    await s.execute(delete(ConversationState).where(ConversationState.updated_at < cutoff))
                ),
                "seen_messages": affected(await s.execute(delete(SeenMessage).where(SeenMessage.seen_at < cutoff))),
                "kb_drafts": affected(
                    await s.execute(delete(KbDraft).where(KbDraft.created_at < cutoff, KbDraft.status == "draft"))
                ),
            }
            # Residents not heard from since the cutoff: their chat identity, remembered city and profile
            # (cascade). Workers' identities stay. Last, so the tickets above have let go of them already.
            bound = select(WorkerIdentity.user_id).where(WorkerIdentity.user_id == User.id)
            counts["idle_users"] = affected(
                await s.execute(delete(User).where(User.last_seen_at < cutoff, ~bound.exists()))
            )
            return counts


async def _blank_tickets(s: AsyncSession, where: ColumnElement[bool], reason: str, now: datetime) -> int:
    """Keep the ticket (station, times) for the statistics; drop its text and the way to reach the person."""
    await s.execute(
        update(Ticket).where(where, Ticket.status == "open").values(status="closed", closed_at=now, closed_by=reason)
    )
    result = await s.execute(update(Ticket).where(where).values(question="", chat_id="", user_id=None))
    return affected(result)
