"""Fixtures in the style of the Flask tutorial: app, client, db session, users with permissions."""

from __future__ import annotations

import contextvars
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from tests.databases import DatabaseFactory
from webapp import accounts, create_app
from webapp.embedded_redis import EmbeddedRedis
from webapp.extensions import db as _db
from webapp.models import Mandant, Role, User
from webapp.permissions import Permission

PASSWORD = "richtig-geheim-42"


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseFactory]:
    factory = DatabaseFactory(tmp_path_factory.mktemp("databases"))
    yield factory
    factory.close()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real Redis at REDIS_URL (database 15), or a throwaway redis-server of our own."""
    configured = os.environ.get("REDIS_URL")
    if configured:
        yield (
            configured.rsplit("/", 1)[0] + "/15"
            if configured.startswith("redis://")
            else configured
        )
        return
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    url = server.start()
    yield url
    server.stop()


@pytest.fixture(scope="session")
def password_hash() -> str:
    # scrypt is slow on purpose: hash the test password once per session.
    return generate_password_hash(PASSWORD, method="scrypt")


class IsolatedClient(FlaskClient):
    """A test client whose requests run in a fresh context, as in production.

    The fixtures keep an app context pushed for the test's own database work; without this,
    Flask would reuse it for each request and share `g` (the logged-in user) and the session.
    A streamed body (the exports) is read within that context too, as the server reads it
    within the request's (`buffered`): its request context ends where it began.
    """

    def open(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("buffered", True)
        return contextvars.Context().run(super().open, *args, **kwargs)


def make_test_app(database_url: str, instance: Path, redis_url: str, **extra: object) -> Flask:
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "INSTANCE_PATH": str(instance),
        "REDIS_URL": redis_url,
        "RATELIMIT_STORAGE_URI": "memory://",
        "WTF_CSRF_ENABLED": False,
        "SERVER_NAME": None,
    }
    config.update(extra)
    application = create_app(config)
    application.test_client_class = IsolatedClient
    return application


@pytest.fixture
def app_config() -> dict[str, object]:
    """Extra settings for the `app` fixture; override in a test module."""
    return {}


@pytest.fixture
def app(
    databases: DatabaseFactory, redis_url: str, tmp_path: Path, app_config: dict[str, object]
) -> Iterator[Flask]:
    url = databases.new_database()
    application = make_test_app(url, tmp_path, redis_url, **app_config)
    with application.app_context():
        yield application
        _db.session.remove()
        _db.engine.dispose()
    databases.drop(url)


@pytest.fixture
def db(app: Flask) -> Session:
    """The app's SQLAlchemy session (the tests run inside an app context)."""
    return _db.session


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def make_user(db: Session, password_hash: str) -> Callable[..., User]:
    """make_user("name", Permission.SMS_SEND, ..., admin=False, mandanten=[...])."""
    counter = {"n": 0}

    def factory(
        username: str | None = None,
        *permissions: Permission,
        admin: bool = False,
        active: bool = True,
        mandanten: list[Mandant] | None = None,
    ) -> User:
        counter["n"] += 1
        username = username or f"user{counter['n']}"
        user = User(
            username=username,
            display_name=username.title(),
            password_hash=password_hash,
            is_administrator=admin,
            active=active,
        )
        if permissions:
            role = Role(name=f"role-{username}")
            role.permissions = {int(p) for p in permissions}
            user.roles = [role]
        user.mandanten = list(mandanten or [])
        db.add(user)
        db.commit()
        return user

    return factory


def login_as(client: FlaskClient, user: User) -> FlaskClient:
    """Log `user` in on `client` without the (deliberately slow) password check."""
    with client.application.test_request_context(environ_base=client.environ_base):
        # What session protection expects for this client.
        identifier = client.application.login_manager._session_identifier_generator()
    with client.session_transaction() as session:
        session["_user_id"] = user.get_id()
        session["_fresh"] = True
        session["_id"] = identifier
    return client


@pytest.fixture
def admin(make_user: Callable[..., User]) -> User:
    return make_user("admin", admin=True)


@pytest.fixture
def admin_client(client: FlaskClient, admin: User) -> FlaskClient:
    return login_as(client, admin)


@pytest.fixture
def wien(db: Session) -> Mandant:
    """The Mandant "HV Wien" (a test file needing more of it, e.g. the SMS service switched
    on, defines its own `wien`)."""
    mandant = accounts.save_mandant(db, "HV Wien")
    db.commit()
    return mandant


@pytest.fixture
def graz(db: Session) -> Mandant:
    """A second Mandant, "HV Graz": what one Mandant's users must not see."""
    mandant = accounts.save_mandant(db, "HV Graz")
    db.commit()
    return mandant


class MailSink:
    """An aiosmtpd handler that keeps every message it receives (a real SMTP conversation)."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        from email import message_from_bytes, policy

        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[tuple[str, int, MailSink]]:
    """A local SMTP server; returns (host, port, sink)."""
    from aiosmtpd.controller import Controller

    from webapp.embedded_redis import free_port

    sink = MailSink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield "127.0.0.1", controller.port, sink
    controller.stop()
