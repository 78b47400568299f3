"""queue_sms and resend: stored first, fixed text appended, bad numbers kept as failed."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from webapp import accounts
from webapp.errors import InputError
from webapp.models import Message, MessageSource, MessageStatus
from webapp.sms.outbox import compose_text, preview, queue_sms, resend
from webapp.sms.settings import set_global


@pytest.fixture
def mandant(db):
    m = accounts.save_mandant(db, "HV Wien")
    db.commit()
    return m


def _queue(db, mandant, recipient="0664 1234567", text="Hallo", **kw):
    return queue_sms(
        db,
        recipient=recipient,
        text=text,
        mandant_id=mandant.id,
        source=kw.pop("source", MessageSource.MANUAL),
        **kw,
    )


def test_queue_stores_a_queued_message_with_normalised_number(db, mandant, make_user):
    user = make_user("maria")
    message = _queue(
        db, mandant, "+43 664 123 45 67", "Die Heizung wird morgen repariert.", created_by=user
    )
    db.commit()
    assert message.status is MessageStatus.QUEUED
    assert message.recipient == "+436641234567"
    assert message.recipient_raw == "+43 664 123 45 67"
    assert message.encoding == "GSM-7" and message.segments == 1
    assert message.created_by is user and message.source is MessageSource.MANUAL
    assert message.attempts == 0 and message.reason is None


def test_fixed_text_of_1402_ends_every_sms(db, mandant):
    set_global(db, 1402, "Ihre HV Wien", "test")
    message = _queue(db, mandant, text="Termin: Montag")
    assert message.text == "Termin: Montag\nIhre HV Wien"
    assert compose_text(db, "x") == "x\nIhre HV Wien"
    assert preview(db, "x").characters == len("x\nIhre HV Wien")


def test_segments_and_encoding_come_from_the_final_text(db, mandant):
    set_global(db, 1402, "Grüße 😀", "test")
    message = _queue(db, mandant, text="a" * 60)
    assert message.encoding == "UCS-2"
    assert message.segments == 1  # 60 + 1 + 8 units = 69 ≤ 70
    message = _queue(db, mandant, text="a" * 62)
    assert message.segments == 2


@pytest.mark.parametrize(
    ("recipient", "code", "reason"),
    [
        ("01 5880 0", "not_mobile", "Festnetznummer"),
        ("0664 12", "malformed", "0664 1234567"),
        ("+41 79 123 45 67", "prefix_not_allowed", "93001"),
    ],
)
def test_a_bad_number_is_stored_as_failed_with_reason_and_flagged(
    db, mandant, recipient, code, reason
):
    message = _queue(db, mandant, recipient)
    db.commit()
    assert message.id is not None
    assert message.status is MessageStatus.FAILED
    assert message.error_code == code
    assert reason in message.reason
    assert message.error_notification_due is True


@pytest.mark.parametrize(
    ("kwargs", "field", "text"),
    [
        ({"text": "   "}, "text", "Bitte einen SMS-Text eingeben."),
        ({"text": "x" * 1531}, "text", "zu lang"),
        ({"recipient": " "}, "recipient", "Mobilfunknummer"),
    ],
)
def test_bad_input_is_refused_and_nothing_stored(db, mandant, kwargs, field, text):
    with pytest.raises(InputError) as refused:
        _queue(db, mandant, **kwargs)
    assert refused.value.field == field and text in refused.value.message
    db.rollback()
    assert db.scalars(select(Message)).all() == []


def test_max_segments_is_configurable(db, mandant):
    assert _queue(db, mandant, text="x" * 1530).segments == 10
    with pytest.raises(InputError, match="höchstens 2 Teile"):
        _queue(db, mandant, text="x" * 307, max_segments=2)


def test_unknown_mandant_is_refused(db):
    with pytest.raises(InputError) as refused:
        queue_sms(db, recipient="06641234567", text="x", mandant_id=999, source=MessageSource.API)
    assert refused.value.field == "mandant"


def test_resend_copies_finished_messages_and_refuses_others(db, mandant, make_user):
    user = make_user("maria")
    failed = _queue(db, mandant)
    failed.status = MessageStatus.FAILED
    sent = _queue(db, mandant, text="gesendet")
    sent.status = MessageStatus.SENT
    waiting = _queue(db, mandant, text="wartet")
    db.commit()
    result = resend(db, [failed.id, sent.id, waiting.id, 4711], created_by=user, mandant_ids=None)
    db.commit()
    assert [c.resent_from_id for c in result.copies] == [failed.id, sent.id]
    assert all(c.status is MessageStatus.QUEUED for c in result.copies)
    assert all(c.source is MessageSource.RESEND for c in result.copies)
    assert result.copies[1].text == "gesendet" and result.copies[0].created_by is user
    refused = dict(result.refused)
    assert "Wartet auf Versand" in refused[waiting.id]
    assert "gibt es nicht" in refused[4711]
    db.refresh(failed)
    assert failed.status is MessageStatus.FAILED  # the original stays as it was


def test_resend_respects_the_users_mandanten(db, mandant, make_user):
    other = accounts.save_mandant(db, "HV Graz")
    message = _queue(db, mandant)
    message.status = MessageStatus.SENT
    db.commit()
    result = resend(db, [message.id], created_by=None, mandant_ids={other.id})
    assert result.copies == [] and "gibt es nicht" in result.refused[0][1]


def test_resend_of_a_still_bad_number_fails_again_with_reason(db, mandant):
    message = _queue(db, mandant, "01 5880 0")
    db.commit()
    result = resend(db, [message.id], created_by=None, mandant_ids=None)
    assert result.copies[0].status is MessageStatus.FAILED
    assert "Festnetznummer" in result.copies[0].reason


def test_signature_of_variante_2_comes_before_the_fixed_text(db, mandant):
    set_global(db, 1402, "Ihre HV Wien", "test")
    message = _queue(db, mandant, text="Termin: Montag", signature="Mag. Huber")
    assert message.text == "Termin: Montag\nMag. Huber\nIhre HV Wien"
    assert preview(db, "x", "Mag. Huber").characters == len("x\nMag. Huber\nIhre HV Wien")
    assert compose_text(db, "x", "") == "x\nIhre HV Wien"


def test_a_text_with_placeholders_nobody_fills_is_refused(db, mandant):
    """Issue 12 point 8: `{auftrag.nummer}` must never reach a phone."""
    with pytest.raises(InputError) as raised:
        _queue(db, mandant, text="Auftrag {auftrag.nummer}: {auftrag.titel}")
    assert raised.value.field == "text"
    assert "{auftrag.nummer}, {auftrag.titel}" in raised.value.message
    assert db.scalar(select(Message)) is None
    # Braces that are no placeholder are text.
    assert _queue(db, mandant, text="Preis {5} €").status is MessageStatus.QUEUED
