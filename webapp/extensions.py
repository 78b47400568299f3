"""Extension singletons, bound to the app in `create_app` (cookiecutter-flask / flaskbb style)."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from flask import Flask, current_app, request
from flask_babel import Babel
from flask_htmx import HTMX
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase
from werkzeug.local import LocalProxy

# Named constraints: Alembic's SQLite batch mode can only drop or alter what has a name.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)

# The models' base class. Flask-SQLAlchemy builds db.Model from Base at run time; a type
# checker cannot take an instance attribute as a base class (python/mypy#8603), so it sees
# Base, which db.Model derives from.
if TYPE_CHECKING:
    Model = Base
else:
    Model = db.Model
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
htmx = HTMX()
babel = Babel()
limiter = Limiter(key_func=get_remote_address, default_limits=[])


def client_address() -> str:
    """The address a request came from: the peer's, or behind TRUSTED_PROXIES the one they
    forwarded (ProxyFix in create_app)."""
    return request.remote_addr or "unknown"


def app_object() -> Flask:
    """The app behind `flask.current_app`, for code that keeps it beyond the app context or
    hands it to another thread. Flask types the proxy as Flask, hence the cast."""
    return cast("LocalProxy[Flask]", current_app)._get_current_object()
