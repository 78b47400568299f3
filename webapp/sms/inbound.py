"""Received SMS: stored first (the inbound issue adds the list, webhooks and forwarding)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from webapp.models import ReceivedMessage


def store_from_modem(session: Session, received) -> ReceivedMessage:  # type: ignore[no-untyped-def]
    """Store an SMS read from the modem and commit, so it may be deleted from the SIM."""
    message = ReceivedMessage(
        transport="modem",
        sender=received.sender,
        text=received.text,
        parts=received.parts,
        complete=received.complete,
        sent_at=received.sent_at,
    )
    session.add(message)
    session.commit()
    return message
