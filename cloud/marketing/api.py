"""Segments and mailings over the JSON API: segments (saved client filters) with their count
and members, and mailings to a segment with the status of each recipient. Money is in kopecks,
days are ``YYYY-MM-DD`` in the service's time zone; the rules are those of the pages
(``cloud.marketing.segments``, ``cloud.marketing.mailings``). Creating a mailing only queues it: the
``aquastand-cloud send-mailings`` command sends the messages."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from flask import current_app
from pydantic import BaseModel, ConfigDict, Field

from cloud.api import api_endpoint, bp, page_args
from cloud.clients import service as clientbook
from cloud.clients.apimodels import ClientList
from cloud.fields import RowId, line, said_by, text
from cloud.marketing import mailings
from cloud.marketing import segments as segmentbook
from cloud.marketing.segments import SegmentFilter
from cloud.permissions import Capability
from cloud.web import acting_user

# --- schemas ----------------------------------------------------------------------------------

SegmentName = Annotated[line(segmentbook.MAX_SEGMENT_NAME), said_by(segmentbook._clean_name, str)]
Subject = Annotated[
    line(mailings.MAX_SUBJECT, description="{name} becomes the client's name"),
    said_by(lambda v: mailings.clean_message(v, "-"), str),
]
MailBody = Annotated[
    text(mailings.MAX_BODY, description="plain text; {name} becomes the client's name"),
    said_by(lambda v: mailings.clean_message("-", v), str),
]


class SegmentOut(BaseModel):
    id: int
    name: str
    filters: SegmentFilter
    count: int | None = Field(description="clients in the segment now (null in lists)")
    created_at: str
    updated_at: str


class SegmentList(BaseModel):
    items: list[SegmentOut]


class SegmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: SegmentName
    filters: SegmentFilter = Field(default_factory=SegmentFilter)


class SegmentPatch(BaseModel):
    """Only what is given changes; ``filters`` replaces the whole filter."""

    model_config = ConfigDict(extra="forbid")

    name: SegmentName | None = None
    filters: SegmentFilter | None = None


class MailingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    segment_id: RowId
    subject: Subject
    body: MailBody


class MailingCounts(BaseModel):
    queued: int
    sending: int
    sent: int
    failed: int
    skipped: int


class MailingOut(BaseModel):
    id: int
    segment_id: int | None
    segment_name: str
    subject: str
    body: str
    state: Literal["sending", "done"]
    counts: MailingCounts
    created_by_id: int | None
    created_at: str
    finished_at: str | None


class MailingList(BaseModel):
    items: list[MailingOut]
    total: int


class RecipientOut(BaseModel):
    id: int
    client_id: int | None
    email: str
    status: Literal["queued", "sending", "sent", "failed", "skipped"]
    reason: str
    updated_at: str


class RecipientList(BaseModel):
    items: list[RecipientOut]
    total: int


PAGING = {"limit": "1..500, default 50", "offset": "default 0"}


def _timezone() -> str:
    return str(current_app.config["AQ"].timezone)


# --- segments ---------------------------------------------------------------------------------


@bp.get("/segments")
@api_endpoint(Capability.SEGMENTS, "List segments", response=SegmentList)
def segments_list() -> Any:
    rows = segmentbook.all_segments()
    return {"items": [segmentbook.segment_to_dict(s, _timezone(), count=False) for s in rows]}


@bp.post("/segments")
@api_endpoint(
    Capability.SEGMENTS, "Create a segment", body=SegmentIn, response=SegmentOut, status=201
)
def segments_create(body: SegmentIn) -> Any:
    segment = segmentbook.create_segment(acting_user(), body.name, body.filters)
    return segmentbook.segment_to_dict(segment, _timezone())


@bp.get("/segments/<int:segment_id>")
@api_endpoint(Capability.SEGMENTS, "Read a segment with its client count", response=SegmentOut)
def segment_get(segment_id: int) -> Any:
    return segmentbook.segment_to_dict(segmentbook.get_segment(segment_id), _timezone())


@bp.patch("/segments/<int:segment_id>")
@api_endpoint(
    Capability.SEGMENTS,
    "Rename a segment or replace its filter",
    body=SegmentPatch,
    response=SegmentOut,
)
def segment_patch(segment_id: int, body: SegmentPatch) -> Any:
    segment = segmentbook.update_segment(
        segmentbook.get_segment(segment_id), body.name, body.filters
    )
    return segmentbook.segment_to_dict(segment, _timezone())


@bp.delete("/segments/<int:segment_id>")
@api_endpoint(Capability.SEGMENTS, "Delete a segment (its mailings stay)", status=204)
def segment_delete(segment_id: int) -> Any:
    segmentbook.delete_segment(segmentbook.get_segment(segment_id))
    return None


@bp.get("/segments/<int:segment_id>/members")
@api_endpoint(
    Capability.SEGMENTS, "The segment's clients, by id", response=ClientList, query=PAGING
)
def segment_members(segment_id: int) -> Any:
    limit, offset = page_args()
    segment = segmentbook.get_segment(segment_id)
    rows, total = segmentbook.member_page(segment, _timezone(), limit, offset)
    return {"items": clientbook.client_dicts(rows), "total": total}


# --- mailings ---------------------------------------------------------------------------------


@bp.get("/mailings")
@api_endpoint(
    Capability.SEGMENTS, "List mailings, newest first", response=MailingList, query=PAGING
)
def mailings_list() -> Any:
    limit, offset = page_args()
    rows, total = mailings.mailing_page(limit, offset)
    return {"items": mailings.mailing_dicts(rows), "total": total}


@bp.post("/mailings")
@api_endpoint(
    Capability.SEGMENTS,
    "Queue a mailing to a segment (recipients recorded now, sent by send-mailings)",
    body=MailingIn,
    response=MailingOut,
    status=201,
)
def mailings_create(body: MailingIn) -> Any:
    segment = segmentbook.get_segment(body.segment_id)
    config = current_app.config["AQ"]
    mailing = mailings.create_mailing(acting_user(), segment, body.subject, body.body, config)
    return mailings.mailing_to_dict(mailing)


@bp.get("/mailings/<int:mailing_id>")
@api_endpoint(Capability.SEGMENTS, "A mailing's state and counts", response=MailingOut)
def mailing_get(mailing_id: int) -> Any:
    return mailings.mailing_to_dict(mailings.get_mailing(mailing_id))


@bp.get("/mailings/<int:mailing_id>/recipients")
@api_endpoint(
    Capability.SEGMENTS,
    "Who was sent what: each recipient's address, status and reason",
    response=RecipientList,
    query=PAGING,
)
def mailing_recipients(mailing_id: int) -> Any:
    limit, offset = page_args()
    rows, total = mailings.recipient_page(mailings.get_mailing(mailing_id), limit, offset)
    return {"items": [mailings.recipient_to_dict(row) for row in rows], "total": total}
