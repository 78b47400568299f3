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
from webapp.sms.outbox import checked_text, queue_sms
from webapp.sms.placeholders import MissingPlaceholderError, render, tokens_of, usage_label
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


def contact_values(contact: Person | Company) -> dict[str, str]:
    """The placeholder values a Person or Firma fills by itself (an SMS to it without an
    order or ticket): its name and Mandant. The rest stays for the editor to mark."""
    key = "firma.name" if isinstance(contact, Company) else "person.name"
    return {key: contact.name, "mandant.name": contact.mandant.name}


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


@dataclass(frozen=True)
class Draft:
    """The SMS one notification would send now: to whom and its final text, or why it would
    not go. Queueing goes by the same draft, so a preview shows what happens."""

    role: str
    name: str  # who it is for ('' when nobody is entered)
    mobile: str = ""
    body: str | None = None  # the Smstext filled from the record: what is queued
    final_text: str | None = None  # with signature and fixed text: what the phone shows
    reason: str | None = None  # why nothing would be sent

    @property
    def sendable(self) -> bool:
        return self.body is not None


def draft(
    session: Session,
    *,
    role: str,
    recipient: Person | Company | None,
    usage_key: str,
    values: dict[str, str],
) -> Draft:
    """The SMS to `recipient` from the first Smstext of `usage_key`, filled with `values`."""
    if recipient is None:
        return Draft(role, "", reason=_("Kein %(role)s eingetragen.", role=role_label(role)))
    name, mobile = recipient.name, (recipient.mobile or "").strip()
    refusal = sms_service_refusal(session)  # global 1400 switches the SMS service on
    if refusal:
        return Draft(role, name, mobile, reason=refusal)
    if not mobile:
        return Draft(role, name, reason=_("Keine Mobilnummer hinterlegt."))
    text = text_for(session, usage_key)
    if text is None:
        return Draft(role, name, mobile, reason=missing_text_reason(usage_key))
    try:
        body = render(text.body, values, missing="error")
        final_text = checked_text(session, body)
    except MissingPlaceholderError as error:
        reason = _(
            "Der SMS-Text „%(name)s“ enthält Platzhalter, die hier keinen Wert haben: "
            "%(keys)s. Bitte den Text unter Smstexte ändern.",
            name=text.name,
            keys=tokens_of(error.keys),
        )
        return Draft(role, name, mobile, reason=reason)
    except InputError as error:  # text too long, a broken template
        return Draft(role, name, mobile, reason=error.message)
    return Draft(role, name, mobile, body=body, final_text=final_text)


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
    planned = draft(session, role=role, recipient=recipient, usage_key=usage_key, values=values)
    if recipient is None or planned.body is None:
        return Outcome(role, planned.name, reason=planned.reason)
    try:
        message = queue_sms(
            session,
            recipient=recipient.mobile,
            text=planned.body,
            mandant_id=mandant_id,
            source=source,
            source_ref=source_ref,
            created_by=created_by,
            created_by_module=module,
            default_region=default_region,
        )
    except InputError as error:
        return Outcome(role, planned.name, reason=error.message)
    return Outcome(role, planned.name, message=message)


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


@dataclass(frozen=True)
class OrderDrafts:
    """What "Auftrag versenden" would send now, per recipient: the dialog shows these final
    texts (or why one would not go) before anything is sent."""

    creditor: Draft
    inspector: Draft
    resident: Draft | None  # None: global 1580 is off, the Bestandsnehmer is not offered


def order_drafts(session: Session, order: WorkOrder, plan: OrderSendPlan) -> OrderDrafts:
    """The SMS `send_order` would queue for `order`, each with its final text or the reason."""

    def of(role: str, recipient: Person | Company | None) -> Draft:
        values = order_values(order, recipient)
        return draft(
            session, role=role, recipient=recipient, usage_key=USAGE_OF[role], values=values
        )

    resident: Draft | None = None
    if plan.resident_offered:
        resident = (
            of(RESIDENT, order.resident)
            if plan.resident_by_sms
            else Draft(
                RESIDENT, order.resident.name if order.resident else "", reason=not_by_sms_reason()
            )
        )
    return OrderDrafts(
        creditor=of(CREDITOR, order.creditor),
        inspector=of(INSPECTOR, order.inspector),
        resident=resident,
    )


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
