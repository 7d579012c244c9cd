"""Records for the handoff, directory and privacy features: plain frozen values handed to features."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

# A handoff ends by itself this long after the last message either way ("24 hours without activity").
ACTIVE_HOURS = 24


@dataclass(frozen=True, slots=True)
class ResidentStatus:
    """What the consent and handoff middlewares need about the sender, read in one query per message."""

    is_worker: bool
    notice_at: datetime | None
    consented_at: datetime | None
    station_id: int | None
    town: str
    ticket_id: int | None  # the handoff in progress (open and active), if any

    @property
    def consented(self) -> bool:
        return self.consented_at is not None


@dataclass(frozen=True, slots=True)
class StationInfo:
    id: int
    name: str
    county: str
    city: str
    address: str
    phone: str
    hours: str
    latitude: float | None
    longitude: float | None


@dataclass(frozen=True, slots=True)
class TicketRecord:
    id: int
    station_id: int
    station_name: str
    user_id: int | None
    channel: str
    chat_id: str
    question: str
    status: str
    worker_id: int | None
    created_at: datetime
    last_activity_at: datetime
    first_reply_at: datetime | None
    closed_at: datetime | None


@dataclass(frozen=True, slots=True)
class TicketLine:
    """One message of a ticket's conversation, for `工单 N`."""

    sender: str  # resident | worker
    worker_name: str
    text: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ReplyOutcome:
    """What `回复 N` did: "ok", or why not ("missing": not this station's; "closed")."""

    status: str
    ticket: TicketRecord | None = None
    first_reply_seconds: float | None = None  # set on the ticket's first human reply
    reactivated: bool = False  # the handoff had lapsed (24 h) and starts again


@dataclass(frozen=True, slots=True)
class TicketStats:
    station_id: int
    station_name: str
    open: int
    awaiting_reply: int  # open and no human reply yet
    opened_recently: int
    replied_recently: int
    median_first_reply_seconds: float | None


@dataclass(frozen=True, slots=True)
class DraftRecord:
    id: int
    station_id: int
    ticket_id: int | None
    worker_id: int | None
    question: str
    answer: str
    status: str
    document_path: str
