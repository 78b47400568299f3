"""The SMS that Aufträge and Tickets send (SPEC R40–R44).

Plain functions on a session: which notifications apply given the globals 1539/1580/1581/2890,
the texts (first Smstext of the usage, placeholders filled from the record), queueing them
through the outbox, and a result that lists what was queued and what was skipped and why.
Nothing here commits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypedDict

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.errors import InputError
from webapp.formatting import format_datetime
from webapp.models import Company, Message, MessageSource, Person, SmsText, Ticket, User, WorkOrder
from webapp.models.base import utcnow
from webapp.sms.outbox import queue_sms
from webapp.sms.placeholders import render, usage_label
from webapp.sms.settings import GlobalNumber, get_flag, sms_service_refusal

# The SMS are German, like their Smstexte, whatever language the sender's screen shows: a date
# or a word filled into one never follows the UI language.
SMS_LOCALE = "de"

ORDER_MODULE = "auftrag"
TICKET_MODULE = "ticketing"

CREDITOR = "kreditor"
INSPECTOR = "kontrolleur"
RESIDENT = "bestandsnehmer"

USAGE_OF = {
    CREDITOR: "auftrag_kreditor",
    INSPECTOR: "auftrag_kontrolleur",
    RESIDENT: "auftrag_bn",
}


@dataclass(frozen=True)
class Outcome:
    """One notification: queued (`message`) or skipped (`reason`)."""

    role: str  # kreditor / kontrolleur / bestandsnehmer
    name: str  # who it is for ('' when nobody is entered)
    message: Message | None = None
    reason: str | None = None

    @property
    def queued(self) -> bool:
        return self.message is not None


@dataclass
class NotificationResult:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def queued(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.queued]

    @property
    def skipped(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.queued]


def role_label(role: str) -> str:
    return {
        CREDITOR: _("Kreditor"),
        INSPECTOR: _("Kontrolleur"),
        RESIDENT: _("Bestandsnehmer"),
    }.get(role, role)


def text_for(session: Session, usage_key: str) -> SmsText | None:
    """The first (oldest) Smstext with this usage, or None."""
    return session.scalars(
        select(SmsText).where(SmsText.usage_key == usage_key).order_by(SmsText.id).limit(1)
    ).first()


def missing_text_reason(usage_key: str) -> str:
    return _(
        "Es gibt keinen SMS-Text mit der Verwendung „%(usage)s“ – bitte unter Smstexte anlegen.",
        usage=usage_label(usage_key),
    )


def order_values(order: WorkOrder, recipient: Person | Company | None = None) -> dict[str, str]:
    """The placeholder values of an Auftrag (and of the recipient), in the SMS's language."""
    with force_locale(SMS_LOCALE):
        appointment = (
            format_datetime(order.appointment) if order.appointment else _("nach Vereinbarung")
        )
    values = {
        "auftrag.nummer": order.number,
        "auftrag.titel": order.title,
        "auftrag.termin": appointment,
        "auftrag.kreditor": order.creditor.name if order.creditor else "",
        "objekt.adresse": order.address,
        "mandant.name": order.mandant.name,
    }
    if isinstance(recipient, Company):
        values["firma.name"] = recipient.name
    elif isinstance(recipient, Person):
        values["person.name"] = recipient.name
    return values


def ticket_values(ticket: Ticket) -> dict[str, str]:
    resident = ticket.resident
    return {
        "ticket.nummer": ticket.number,
        "ticket.titel": ticket.subject,
        "person.name": resident.name if resident else "",
        "objekt.adresse": (
            ", ".join(
                p for p in (resident.street, f"{resident.postal_code} {resident.city}".strip()) if p
            )
            if resident
            else ""
        ),
        "mandant.name": ticket.mandant.name,
    }


class _Shared(TypedDict):
    """What every SMS of one order shares (arguments of `_queue`)."""

    mandant_id: int
    source: MessageSource
    source_ref: str
    module: str
    created_by: User | None
    default_region: str


def _queue(
    session: Session,
    *,
    role: str,
    recipient: Person | Company | None,
    usage_key: str,
    values: dict[str, str],
    mandant_id: int,
    source: MessageSource,
    source_ref: str,
    module: str,
    created_by: User | None,
    default_region: str,
) -> Outcome:
    if recipient is None:
        return Outcome(role, "", reason=_("Kein %(role)s eingetragen.", role=role_label(role)))
    refusal = sms_service_refusal(session)  # global 1400 switches the SMS service on
    if refusal:
        return Outcome(role, recipient.name, reason=refusal)
    if not (recipient.mobile or "").strip():
        return Outcome(role, recipient.name, reason=_("Keine Mobilnummer hinterlegt."))
    text = text_for(session, usage_key)
    if text is None:
        return Outcome(role, recipient.name, reason=missing_text_reason(usage_key))
    try:
        body = render(text.body, values, missing="keep")
        message = queue_sms(
            session,
            recipient=recipient.mobile,
            text=body,
            mandant_id=mandant_id,
            source=source,
            source_ref=source_ref,
            created_by=created_by,
            created_by_module=module,
            default_region=default_region,
        )
    except InputError as error:  # text too long, a broken template
        return Outcome(role, recipient.name, reason=error.message)
    return Outcome(role, recipient.name, message=message)


# --- Auftrag versenden -------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderSendPlan:
    """What the "Auftrag versenden" dialog offers, from the globals."""

    inspector_default: bool  # 1539: "Kontrolleur per SMS informieren" checked by default
    resident_offered: bool  # 1580: "Bestandsnehmer verständigen" shown (and checked)
    resident_by_sms: bool  # 1581: … and that goes by SMS
    creditor_text: SmsText | None

    @property
    def refusal(self) -> str | None:
        if self.creditor_text is None:
            return missing_text_reason(USAGE_OF[CREDITOR])
        return None


def order_send_plan(session: Session) -> OrderSendPlan:
    resident_offered = get_flag(session, GlobalNumber.ORDER_NOTIFY_RESIDENT)
    return OrderSendPlan(
        inspector_default=get_flag(session, GlobalNumber.ORDER_SMS_TO_INSPECTOR),
        resident_offered=resident_offered,
        resident_by_sms=resident_offered
        and get_flag(session, GlobalNumber.ORDER_NOTIFY_RESIDENT_BY_SMS),
        creditor_text=text_for(session, USAGE_OF[CREDITOR]),
    )


def not_by_sms_reason() -> str:
    return _("nicht per SMS (globale Variable 1581)")


def send_order(
    session: Session,
    order: WorkOrder,
    *,
    inform_inspector: bool,
    notify_resident: bool,
    created_by: User | None = None,
    default_region: str = "AT",
) -> NotificationResult:
    """ "Auftrag versenden": the SMS to the Kreditor and, as chosen, Kontrolleur and BN.

    Raises InputError (nothing queued) when there is no Kreditor or no text for the Kreditor.
    A recipient without a mobile number or text is skipped with the reason; the rest is
    queued. `notify_resident` counts only when 1580 is on; it goes by SMS only when 1581 is
    on (else it is listed as skipped, "nicht per SMS"). Stamps `order.sent_at`.
    """
    plan = order_send_plan(session)
    if order.creditor is None:
        raise InputError(_("Bitte zuerst einen Kreditor eintragen."), "creditor_id")
    if plan.refusal:
        raise InputError(plan.refusal)
    common: _Shared = {
        "mandant_id": order.mandant_id,
        "source": MessageSource.WORK_ORDER,
        "source_ref": str(order.id),
        "module": ORDER_MODULE,
        "created_by": created_by,
        "default_region": default_region,
    }
    result = NotificationResult()
    wanted: list[tuple[str, Person | Company | None]] = [(CREDITOR, order.creditor)]
    if inform_inspector:
        wanted.append((INSPECTOR, order.inspector))
    for role, recipient in wanted:
        result.outcomes.append(
            _queue(
                session,
                role=role,
                recipient=recipient,
                usage_key=USAGE_OF[role],
                values=order_values(order, recipient),
                **common,
            )
        )
    if plan.resident_offered and notify_resident:
        resident = order.resident
        if not plan.resident_by_sms:
            result.outcomes.append(
                Outcome(RESIDENT, resident.name if resident else "", reason=not_by_sms_reason())
            )
        else:
            result.outcomes.append(
                _queue(
                    session,
                    role=RESIDENT,
                    recipient=resident,
                    usage_key=USAGE_OF[RESIDENT],
                    values=order_values(order, resident),
                    **common,
                )
            )
    order.sent_at = utcnow()
    session.flush()
    return result


# --- Ticket erstellt ---------------------------------------------------------------------------


def ticket_created(
    session: Session,
    ticket: Ticket,
    *,
    created_by: User | None = None,
    default_region: str = "AT",
) -> NotificationResult:
    """After a ticket is created: the SMS to its Bestandsnehmer when global 2890 is on.

    A missing Bestandsnehmer, number or text is noted on the ticket (`sms_note`); 2890 off:
    nothing happens (empty result).
    """
    result = NotificationResult()
    if not get_flag(session, GlobalNumber.TICKET_SMS_TO_RESIDENT):
        return result
    outcome = _queue(
        session,
        role=RESIDENT,
        recipient=ticket.resident,
        usage_key="ticket_bn_erstellt",
        values=ticket_values(ticket),
        mandant_id=ticket.mandant_id,
        source=MessageSource.TICKET,
        source_ref=str(ticket.id),
        module=TICKET_MODULE,
        created_by=created_by,
        default_region=default_region,
    )
    result.outcomes.append(outcome)
    ticket.sms_note = (
        None
        if outcome.queued
        else _("Keine SMS an den Bestandsnehmer: %(reason)s", reason=outcome.reason)
    )
    session.flush()
    return result
