"""SMS senden: the quick form in the navigation (permission 298004, only when global 1400 is on).

The form itself arrives with the SMS core issue; the entry and its guard exist from the start.
"""

from __future__ import annotations

from flask import Blueprint, render_template

from webapp.extensions import db
from webapp.permissions import Permission, requires
from webapp.sms.settings import sms_service_refusal

bp = Blueprint("quicksend", __name__, url_prefix="/sms")


def service_refusal() -> str | None:
    return sms_service_refusal(db.session)


@bp.route("/senden", methods=["GET", "POST"])
@requires(Permission.SMS_SEND, condition=service_refusal)
def send():  # type: ignore[no-untyped-def]
    return render_template("quicksend/send.html")
