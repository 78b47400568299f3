"""What every record (Person, Firma, Auftrag, Ticket) is saved by: its Mandant (its texts are
checked by `webapp.validation.text_field` with `single_line=True`). The save functions
collect the problems of all fields with `webapp.errors.ErrorCollector` and raise them at once.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask_babel import gettext as _
from sqlalchemy.orm import Session

from webapp.errors import InputError
from webapp.models import Mandant


def check_mandant(
    session: Session,
    mandant_id: int | None,
    allowed_mandant_ids: Iterable[int] | None,
    current_mandant_id: int | None,
) -> int:
    """The record's Mandant: one of `allowed_mandant_ids` (None: any), existing, and active
    unless the record already belongs to it (`current_mandant_id`)."""
    if mandant_id is None:
        raise InputError(_("Bitte einen Mandanten auswählen."), "mandant_id")
    if allowed_mandant_ids is not None and mandant_id not in set(allowed_mandant_ids):
        raise InputError(_("Bitte einen Ihrer Mandanten auswählen."), "mandant_id")
    mandant = session.get(Mandant, mandant_id)
    if mandant is None:
        raise InputError(_("Diesen Mandanten gibt es nicht mehr."), "mandant_id")
    if not mandant.active and mandant_id != current_mandant_id:
        raise InputError(
            _("Der Mandant %(n)s ist deaktiviert: bitte einen anderen wählen.", n=mandant.name),
            "mandant_id",
        )
    return mandant_id
