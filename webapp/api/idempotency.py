"""Idempotency-Key (SPEC E7): the first answer to a POST is stored with the token and the key,
and a retry of the same request gets it again instead of queueing its SMS twice — for at least
`API_IDEMPOTENCY_DAYS` (webapp/config.py), after which the housekeeping deletes the key
(webapp/jobs/housekeeping.py, the same setting: promise and deletion cannot drift apart)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from webapp.api.errors import N_, api_error
from webapp.models import ApiIdempotencyKey


@dataclass(frozen=True)
class Answer:
    """An answer of the API: status and JSON text; `replayed` when it is a stored one."""

    status: int
    body: str
    replayed: bool = False


def answer_once(
    session: Session, token_id: int, key: str, request: Any, answer: Callable[[], Answer]
) -> Answer:
    """`answer()`, stored under the token's `key`; when the token used the key before, the stored
    answer instead (ApiError 409 idempotency_key_reused if `request`, the parsed body, differs).
    Without a key `answer()` every time. The caller commits.

    The unique (token, key) makes a concurrent duplicate fail when its answer is stored: it is
    rolled back with what `answer()` added (its SMS), and gets the answer stored first."""
    if not key:
        return answer()
    request_hash = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()
    stored = _stored(session, token_id, key)
    if stored is not None:
        return _replay(stored, request_hash)
    fresh = answer()
    session.add(
        ApiIdempotencyKey(
            token_id=token_id,
            key=key,
            request_hash=request_hash,
            status_code=fresh.status,
            response=fresh.body,
        )
    )
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        stored = _stored(session, token_id, key)
        if stored is None:
            raise
        return _replay(stored, request_hash)
    return fresh


def _stored(session: Session, token_id: int, key: str) -> ApiIdempotencyKey | None:
    return session.scalar(
        select(ApiIdempotencyKey).where(
            ApiIdempotencyKey.token_id == token_id, ApiIdempotencyKey.key == key
        )
    )


def _replay(stored: ApiIdempotencyKey, request_hash: str) -> Answer:
    if stored.request_hash != request_hash:
        raise api_error(
            409,
            "idempotency_key_reused",
            N_("Dieser Idempotency-Key wurde schon für eine andere Anfrage verwendet."),
        )
    return Answer(stored.status_code, stored.response, replayed=True)
