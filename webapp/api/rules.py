"""What each request of the JSON API may carry, declared once as field tables: the views check
requests with them and `webapp.api.openapi` describes them with them (SPEC E7)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from webapp.api.errors import N_, validation_error
from webapp.api.fields import TOO_LONG, Choice, Field, Integer, List, Object, Text, Timestamp
from webapp.models import MessageStatus
from webapp.sms.outbox import QueueItem
from webapp.validation import MAX_ID, clean_text

MAX_BATCH = 1000
# 10 SMS parts of 153 GSM characters. In UCS-2 (umlauts are GSM, emoji are not) 10 parts hold
# 670 characters: a longer text gets 422, which only the encoding can tell.
MAX_TEXT = 1530
MAX_NUMBER = 64
MAX_REFERENCE = 64
MAX_IDEMPOTENCY_KEY = 200  # the column's length
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
STATUSES = tuple(s.value for s in MessageStatus)

NEW_SMS = Object(
    name="NewSms",
    closed=True,
    required=("to", "text"),
    message=N_("ein JSON-Objekt mit „to“ und „text“ erwartet."),
    fields={
        "to": Text(
            max_length=MAX_NUMBER,
            non_blank=True,
            description="Mobile number, national (0664 …) or international (+43 664 …).",
            message=N_("„to“ muss eine Mobilfunknummer (Text, höchstens %(n)d Zeichen) sein."),
        ),
        "text": Text(
            max_length=MAX_TEXT,
            non_blank=True,
            description="The SMS text; the signature and the fixed text are appended. "
            "The final text may have at most 10 SMS parts (1530 GSM characters, 670 "
            "with characters outside GSM 03.38, e.g. emoji); a longer one gets 422. "
            "It is sent as it is: a text that still holds a placeholder of the SMS texts "
            "(`{auftrag.nummer}`) gets 422 naming it.",
            message=N_("„text“ muss ein nicht leerer Text sein."),
            too_long=TOO_LONG,
        ),
        "reference": Text(
            max_length=MAX_REFERENCE,
            nullable=True,
            description="Id of the record in the calling system.",
            message=N_("„reference“ muss ein Text mit höchstens %(n)d Zeichen sein."),
        ),
        "send_at": Timestamp(
            nullable=True,
            description="Versand am: send not before this time, ISO 8601 with an offset "
            "(2026-12-24T08:00:00+01:00 or …Z). The SMS waits with status `planned` and is "
            "valid for a week from this time; it must lie in the future and at most a year "
            "ahead (else 422). Absent or null: sent with the next run.",
        ),
    },
)
NEW_SMS_BATCH = Object(
    name="NewSmsBatch",
    closed=True,
    required=("messages",),
    unknown=N_("Neben „messages“ sind keine weiteren Felder erlaubt."),
    fields={
        "messages": List(
            items=NEW_SMS,
            min_items=1,
            max_items=MAX_BATCH,
            too_many=N_("Höchstens %(max)d SMS pro Anfrage (geschickt: %(n)d)."),
            too_many_code="batch_too_large",
        )
    },
)
IDEMPOTENCY_KEY = Text(
    max_length=MAX_IDEMPOTENCY_KEY,
    description="A retried POST with the same key returns the first answer; another body "
    "with the same key gets 409.",
    message=N_("Der Idempotency-Key darf höchstens %(n)d Zeichen lang sein."),
)
SMS_ID = Integer(minimum=1, maximum=MAX_ID)
LIST_QUERY: dict[str, Field] = {
    "status": Choice(values=STATUSES),
    "number": Text(max_length=MAX_NUMBER, description="Start of the number (0664 12 or +4366412)"),
    "before": Integer(minimum=1, maximum=MAX_ID, description="next_before of the previous page"),
    "limit": Integer(minimum=1, maximum=MAX_LIMIT),
}


def parse_send(body: Any) -> list[QueueItem]:
    """The SMS of a POST /sms body: one SMS (NewSms) or a batch (NewSmsBatch)."""
    if isinstance(body, dict) and "messages" not in body:
        items = [NEW_SMS.parse(body, "body")]
    else:  # a batch, or no JSON object at all: refused as the batch's object
        items = NEW_SMS_BATCH.parse(body)["messages"]
    return [
        QueueItem(item["to"], item["text"], item["reference"] or None, send_at=item["send_at"])
        for item in items
    ]


def parse_idempotency_key(header: str) -> str:
    """The Idempotency-Key header without blanks around it ('' when not given)."""
    key = header.strip()
    IDEMPOTENCY_KEY.parse(key)
    if key != clean_text(key):
        raise validation_error(N_("Der Idempotency-Key darf keine Steuerzeichen enthalten."))
    return key


def check_parameter_names(given: list[str], allowed: Iterable[str]) -> None:
    """Refuse query parameters other than `allowed`, and any given twice (`given` has each
    name as often as it came)."""
    counts = Counter(given)
    unknown = sorted(set(counts) - set(allowed))
    if unknown:
        raise validation_error(N_("Unbekannte Parameter: %(names)s."), names=", ".join(unknown))
    repeated = sorted(name for name, count in counts.items() if count > 1)
    if repeated:
        raise validation_error(
            N_("Parameter mehrfach angegeben: %(names)s."), names=", ".join(repeated)
        )


def parse_query(table: Mapping[str, Field], args: Mapping[str, str]) -> dict[str, Any]:
    """The parameters of `table` that `args` has, checked in the table's order."""
    return {
        name: field.parse(args[name], name=name) for name, field in table.items() if name in args
    }
