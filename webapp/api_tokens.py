"""API tokens (SPEC E7): created by administrators, shown once, stored as SHA-256 only."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import timedelta

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.errors import InputError
from webapp.models import API_SCOPES, ApiToken, Mandant, User
from webapp.models.base import utcnow

TOKEN_PREFIX = "sms_"
VISIBLE_CHARS = 12  # "sms_" and 8 characters of the token, shown in the list
# last_used_at is written at most this often per token, so reads do not write every time.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(
    session: Session,
    *,
    name: str,
    mandant_id: int | None,
    scopes: Iterable[str],
    created_by: User | None,
) -> tuple[ApiToken, str]:
    """Store a new token and return it with its clear text (shown to the administrator once)."""
    name = (name or "").strip()
    if not name:
        raise InputError(_("Bitte einen Namen eingeben."), "name")
    if len(name) > 40:
        raise InputError(_("Der Name darf höchstens 40 Zeichen lang sein."), "name")
    if session.scalar(select(ApiToken.id).where(ApiToken.name == name)) is not None:
        raise InputError(_("Es gibt schon einen API-Zugang mit diesem Namen."), "name")
    if mandant_id is None or session.get(Mandant, mandant_id) is None:
        raise InputError(_("Bitte einen Mandanten auswählen."), "mandant")
    chosen = [s for s in API_SCOPES if s in set(scopes)]
    if not chosen:
        raise InputError(_("Bitte mindestens eine Berechtigung auswählen."), "scopes")
    clear = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        name=name,
        token_hash=hash_token(clear),
        prefix=clear[:VISIBLE_CHARS],
        mandant_id=mandant_id,
        scopes=" ".join(chosen),
        created_by=created_by,
    )
    session.add(token)
    session.flush()
    return token, clear


def revoke_token(session: Session, token: ApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        session.flush()


def find_token(session: Session, clear: str) -> ApiToken | None:
    """The active token with this clear text, its last use stamped; None if unknown/revoked."""
    if not clear.startswith(TOKEN_PREFIX) or len(clear) > 200:
        return None
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(clear)))
    if token is None or token.revoked_at is not None:
        return None
    now = utcnow()
    last = token.last_used_at
    if last is None or now - last >= LAST_USED_RESOLUTION:
        token.last_used_at = now
    return token
