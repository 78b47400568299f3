"""Walking every route of the app: one record of each kind a route opens, and URL arguments."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.routing import Rule
from werkzeug.routing.converters import NumberConverter

from webapp.demo import seed_demo
from webapp.models import Company, Job, Mandant, MessageSource, Person, Role, SmsText, User
from webapp.sms import orders
from webapp.sms.outbox import queue_sms


def one_record_of_each_kind(db: Session, admin: User) -> dict[str, int]:
    """Demo data plus an SMS, an Auftrag and a Ticket; {URL argument or first path part: id}."""
    seed_demo(db)
    db.commit()
    mandant = db.scalars(select(Mandant).order_by(Mandant.id)).first()
    person = db.scalars(select(Person).order_by(Person.id)).first()
    assert mandant is not None and person is not None
    message = queue_sms(
        db,
        recipient="0664 1234567",
        text="Heizung morgen aus",
        mandant_id=mandant.id,
        source=MessageSource.MANUAL,
    )
    order = orders.save_order(
        db,
        orders.OrderInput(mandant_id=mandant.id, title="Wasserschaden", resident_id=person.id),
    )
    ticket = orders.save_ticket(db, orders.TicketInput(mandant_id=mandant.id, subject="Lift"))
    db.commit()
    return {
        "user_id": admin.id,
        "role_id": db.scalars(select(Role.id).order_by(Role.id)).first() or 0,
        "job_id": db.scalars(select(Job.id).order_by(Job.id)).first() or 0,
        "text_id": db.scalars(select(SmsText.id).order_by(SmsText.id)).first() or 0,
        "number": 1400,
        "message_id": message.id,
        "mandant_id": mandant.id,
        "persons": person.id,
        "companies": db.scalars(select(Company.id).order_by(Company.id)).first() or 0,
        "orders": order.id,
        "tickets": ticket.id,
    }


def url_arguments(
    rule: Rule, records: dict[str, int], text: str | None = None
) -> dict[str, object]:
    """Values for the arguments of `rule`: the id of a real record for numbers (or 1), a static
    file for `filename`, and `text` (when given) for any other text argument."""
    values: dict[str, object] = {}
    for name, converter in rule._converters.items():
        if name == "record_id":  # /persons/<id>, /orders/<id>/send, …
            values[name] = records[rule.rule.split("/")[1]]
        elif name == "filename":
            values[name] = "css/app.css"
        elif isinstance(converter, NumberConverter) or name in records:
            values[name] = records.get(name, 1)
        else:
            values[name] = text if text is not None else "x"
    return values
