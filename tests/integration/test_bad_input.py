"""No 500 on bad input (hardening point 11): every route of the app, every query and form field
the app reads, every field of every form it shows, the API and the webhook, fuzzed with
numbers beyond 64 bit, NUL and other control characters, non-ASCII digits and deep JSON.

The routes, field names and forms are read from the app itself (its URL map, the parameter
names its views read, the forms its pages show), so a route or field a later change adds is
fuzzed without touching this file. Runs on SQLite and PostgreSQL (which refuses NUL in text).
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest
from flask import Flask, url_for
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.routing import Rule
from wtforms.fields.core import UnboundField

from tests.conftest import login_as
from tests.routes import one_record_of_each_kind, url_arguments
from webapp.api_tokens import create_token
from webapp.blueprints.lists import FilterForm
from webapp.jobs.settings import set_webhook_secret
from webapp.models import Job, Mandant, Message, Person, User
from webapp.validation import clean_text, optional_id, parse_id

BEYOND_64_BIT = "99999999999999999999"
# What the review found (53 routes answered 500) and its relatives.
BAD_VALUES = [
    BEYOND_64_BIT,
    "-" + BEYOND_64_BIT,
    "9223372036854775808",  # 2**63: one more than the largest id
    "0",
    "-1",
    "a\x00b",
    "\x00",
    "\x1b[31m",
    "²",  # str.isdigit() says yes, int() says no
    "١٢",  # int() takes Arabic-Indic digits
    "1e400",
    "nan",
    "",
    "x" * 3000,
]
# Per form field (a field changed alone, the rest as the page shows it).
FIELD_VALUES = [BEYOND_64_BIT, "a\x00b", "²", "-1"]
WEBHOOK_SECRET = "geheim-webhook-123"
BLUEPRINTS = Path(__file__).resolve().parents[2] / "webapp" / "blueprints"
# request.args.get("x"), form.get("x"), getlist("x"), args["x"], values.get("x") …
READ_PARAMETER = re.compile(r"""(?:args|form|values)(?:\.get(?:list)?\(|\[)\s*["']([\w-]+)["']""")


def parameter_names_read_by_views() -> set[str]:
    """Every query/form parameter name a view reads (from the blueprints' source), and those
    of the list filters (lists.FilterForm), shown in the search bar or not."""
    names: set[str] = set()
    for path in BLUEPRINTS.rglob("*.py"):  # packages too (blueprints/jobs/)
        names.update(READ_PARAMETER.findall(path.read_text(encoding="utf-8")))
    forms = [FilterForm]
    while forms:
        form = forms.pop()
        forms.extend(form.__subclasses__())
        for attribute, value in vars(form).items():
            if isinstance(value, UnboundField):
                names.add(value.name or attribute)
    return names


@dataclass
class PageForm:
    """A <form> of a page: where it goes, how, and its fields with the values shown."""

    action: str
    method: str
    fields: dict[str, list[str]] = field(default_factory=dict)


class Forms(HTMLParser):
    """The forms of a page with their fields (input, select with its chosen option, textarea)."""

    def __init__(self, page_url: str) -> None:
        super().__init__()
        self.page_url = page_url
        self.forms: list[PageForm] = []
        self.names: set[str] = set()
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            action = attributes.get("action") or attributes.get("hx-post") or self.page_url
            method = "POST" if "hx-post" in attributes else attributes.get("method", "GET")
            self.forms.append(PageForm(action.split("#")[0], method.upper()))
            return
        name = attributes.get("name")
        if tag == "option" and self._select and ("selected" in attributes):
            self._add(self._select, attributes.get("value", ""))
        if not name:
            return
        self.names.add(name)
        if tag == "input":
            kind = attributes.get("type", "text")
            if kind in ("checkbox", "radio") and "checked" not in attributes:
                self._add(name, None)
            elif kind not in ("submit", "button", "file"):
                self._add(name, attributes.get("value", ""))
        elif tag == "select":
            self._select = name
            self._add(name, None)
        elif tag == "textarea":
            self._textarea = name
            self._add(name, "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea and self.forms:
            values = self.forms[-1].fields[self._textarea]
            values[-1] = values[-1] + data if values else data

    def _add(self, name: str, value: str | None) -> None:
        if not self.forms:
            return
        values = self.forms[-1].fields.setdefault(name, [])
        if value is not None:
            values.append(value)


@dataclass
class Walk:
    """The app as the fuzzer sees it: routes, the parameter names, the forms of its pages."""

    rules: list[Rule]
    names: set[str]
    forms: list[PageForm]


@pytest.fixture
def records(db: Session, admin: User) -> dict[str, int]:
    return one_record_of_each_kind(db, admin)


def _admin_client(app: Flask, db: Session, admin: User) -> FlaskClient:
    """A fresh login of the administrator (a fuzzed form may have ended the last session)."""
    db.expire_all()
    return login_as(app.test_client(), db.get(User, admin.id))


@pytest.fixture
def walk(app: Flask, db: Session, admin: User, records: dict[str, int]) -> Walk:
    rules = [r for r in app.url_map.iter_rules() if r.endpoint != "static"]
    client = _admin_client(app, db, admin)
    names = parameter_names_read_by_views()
    forms: list[PageForm] = []
    for rule in rules:
        if "GET" not in rule.methods or rule.endpoint == "auth.logout":
            continue
        with app.test_request_context():
            url = url_for(rule.endpoint, **url_arguments(rule, records))
        response = client.get(url)
        if response.mimetype == "text/html":
            parser = Forms(url)
            parser.feed(response.text)
            names |= parser.names
            forms.extend(parser.forms)
    return Walk(rules, names, forms)


def _urls(app: Flask, rule: Rule, records: dict[str, int], value: str) -> Iterator[str]:
    """The rule's URL with real ids and `value` for text arguments; and with an id beyond 64
    bit for each number argument (the route must answer 404, not overflow)."""
    with app.test_request_context():
        yield url_for(rule.endpoint, **url_arguments(rule, records, text=value or "x"))
        numbers = [n for n, v in url_arguments(rule, records).items() if isinstance(v, int)]
        for name in numbers:
            arguments = {**url_arguments(rule, records), name: int(BEYOND_64_BIT)}
            yield url_for(rule.endpoint, **arguments)


class Failures:
    """The requests that failed (a 500, or an exception the test app lets through), each with
    the place in webapp/ it came from; reported all at once, one line per place."""

    def __init__(self) -> None:
        self.by_place: dict[str, str] = {}

    def open(self, client: FlaskClient, what: str, *args: object, **kwargs: object) -> None:
        try:
            response = client.open(*args, **kwargs)  # type: ignore[arg-type]
        except Exception as error:  # the test app propagates exceptions instead of a 500
            frames = [
                f for f in traceback.extract_tb(error.__traceback__) if "/webapp/" in f.filename
            ]
            place = (
                f"{frames[-1].filename.split('/webapp/')[-1]}:{frames[-1].lineno}"
                if frames
                else "?"
            )
            self.by_place.setdefault(place, f"{what} -> {type(error).__name__}: {error}"[:300])
            return
        if response.status_code >= 500:
            self.by_place.setdefault(f"{what} (500)", response.text[:300])

    def check(self) -> None:
        lines = [f"  {place}: {what}" for place, what in sorted(self.by_place.items())]
        assert not lines, f"{len(lines)} place(s) fail on bad input:\n" + "\n".join(lines)


def test_every_route_and_parameter_with_bad_values_gives_no_500(app, db, admin, records, walk):
    assert len(walk.rules) > 70 and {"before", "mandant", "q", "ids"} <= walk.names
    requests = 0
    failures = Failures()
    for rule in sorted(walk.rules, key=lambda r: r.rule):
        client = _admin_client(app, db, admin)
        methods = sorted(rule.methods - {"HEAD", "OPTIONS"})
        for value in BAD_VALUES:
            parameters = dict.fromkeys(sorted(walk.names), value)
            for url in _urls(app, rule, records, value):
                for method in methods:
                    body = parameters if method != "GET" else None
                    what = f"{method} {url[:80]} ({value[:20]!r})"
                    failures.open(
                        client, what, url, method=method, query_string=parameters, data=body
                    )
                    requests += 1
    failures.check()
    assert requests > 1000


def test_every_form_field_alone_with_bad_values_gives_no_500(app, db, admin, records, walk):
    posted = [f for f in walk.forms if f.method == "POST" and not f.action.endswith("/logout")]
    assert len(posted) >= 15, [f.action for f in walk.forms]
    fields = 0
    failures = Failures()
    for form in posted:
        for name in form.fields:
            client = _admin_client(app, db, admin)
            for value in FIELD_VALUES:
                data = {**{k: v[:1] for k, v in form.fields.items()}, name: [value]}
                what = f"POST {form.action} {name}={value!r}"
                failures.open(client, what, form.action, method="POST", data=data)
            fields += 1
    assert fields >= 60
    for form in (f for f in walk.forms if f.method == "GET"):  # the list filters
        client = _admin_client(app, db, admin)
        for name in form.fields:
            for value in FIELD_VALUES:
                query = {**{k: v[:1] for k, v in form.fields.items()}, name: [value]}
                what = f"GET {form.action} {name}={value!r}"
                failures.open(client, what, form.action, query_string=query)
    failures.check()


def test_nul_bytes_never_reach_the_database(app, db, admin, records):
    """The text is stored without them (PostgreSQL would refuse it) and found by a search."""
    client = _admin_client(app, db, admin)
    mandant_id = records["mandant_id"]
    response = client.post(
        "/persons/new",
        data={"mandant_id": mandant_id, "name": "Null\x00Byte Maria", "mobile": "0664 7654321"},
    )
    assert response.status_code in (200, 302, 303), response.text[:500]
    db.expire_all()
    assert db.scalar(select(Person.name).where(Person.name == "NullByte Maria")) is not None
    found = client.get("/persons", query_string={"name": "Null\x00Byte"})
    assert found.status_code == 200 and "NullByte Maria" in found.text
    renamed = client.post("/admin/mandanten", data={"name": "Man\x00dant Süd"})
    assert renamed.status_code < 500
    assert db.scalar(select(func.count()).where(Mandant.name == "Mandant Süd")) == 1


def test_ids_beyond_64_bit_are_not_found_rather_than_an_overflow(app, db, admin, records):
    client = _admin_client(app, db, admin)
    assert client.get(f"/persons/{BEYOND_64_BIT}").status_code == 404
    assert client.get(f"/admin/jobs/{BEYOND_64_BIT}").status_code == 404
    assert client.get("/admin/sms/", query_string={"before": BEYOND_64_BIT}).status_code == 200
    assert client.get("/persons", query_string={"mandant": BEYOND_64_BIT}).status_code == 200


@pytest.fixture
def api_auth(db: Session, records: dict[str, int]) -> dict[str, str]:
    _token, clear = create_token(
        db,
        name="erp",
        mandant_id=records["mandant_id"],
        scopes=("sms:send", "sms:read"),
        created_by=None,
    )
    db.commit()
    return {"Authorization": f"Bearer {clear}"}


def _deep(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


def test_the_api_answers_bad_json_and_bad_fields_with_4xx(db, client, api_auth):
    for body in (_deep(100_000), _deep(40), b'{"to": ' * 50_000, b"\xff\xfe", b"\x00"):
        response = client.post(
            "/api/v1/sms", data=body, content_type="application/json", headers=api_auth
        )
        assert response.status_code == 400, body[:20]
        assert response.json["error"]["code"] in ("bad_json", "bad_request"), response.json
    failures = Failures()
    for value in [*BAD_VALUES, 10**30, -(10**30), 1e308, None, [], {}, True]:
        for key in ("to", "text", "reference"):
            item = {"to": "+43 664 1234567", "text": "Hallo", key: value}
            for body in (item, {"messages": [item]}, {"messages": value}):
                what = f"API {key}={value!r}"
                failures.open(
                    client, what, "/api/v1/sms", method="POST", json=body, headers=api_auth
                )
        for query in ("status", "number", "before", "limit"):
            what = f"API GET {query}={value!r}"
            failures.open(
                client, what, "/api/v1/sms", query_string={query: str(value)}, headers=api_auth
            )
        failures.open(
            client,
            f"Idempotency-Key {value!r}",
            "/api/v1/sms",
            method="POST",
            json={"to": "+43 664 1234567", "text": "Hallo"},
            headers={**api_auth, "Idempotency-Key": str(value)},
        )
    failures.check()
    stored = client.post(
        "/api/v1/sms", json={"to": "+43 664 1234567", "text": "Ha\x00llo"}, headers=api_auth
    )
    assert stored.status_code == 202
    assert db.get(Message, stored.json["messages"][0]["id"]).text == "Hallo"


def test_the_webhook_answers_bad_json_and_bad_fields_with_4xx(app, db, client):
    job = db.scalar(select(Job).where(Job.job_type == "service_sms"))
    set_webhook_secret(job, app.config["SMS_SECRET_KEY"], WEBHOOK_SECRET)
    db.commit()
    url = f"/webhooks/websms/{WEBHOOK_SECRET}"
    response = client.post(url, data=_deep(100_000), content_type="application/json")
    assert response.status_code == 400 and response.json["statusCode"] == 4000
    fields = (
        "notificationId",
        "senderAddress",
        "recipientAddress",
        "textMessageContent",
        "transferId",
        "clientMessageId",
        "deliveryReportMessageStatus",
        "deliveredOn",
    )
    failures = Failures()
    for message_type in ("text", "deliveryReport", "binary"):
        for name in fields:
            for value in [*BAD_VALUES, 10**30, None, [], {}]:
                body = {
                    "messageType": message_type,
                    "notificationId": "0123456789abcdef0123",
                    "senderAddress": "436641234567",
                    "textMessageContent": "Hallo",
                    name: value,
                }
                what = f"webhook {message_type} {name}={value!r}"
                failures.open(client, what, url, method="POST", json=body)
    failures.check()


def test_one_id_parser_and_one_text_cleaner():
    assert parse_id("42") == 42 and parse_id(" 7 ") == 7 and parse_id(9) == 9
    assert parse_id("0", minimum=0) == 0
    for bad in ("", "0", "-1", "²", "١٢", "1e3", "9223372036854775808", BEYOND_64_BIT, None):
        with pytest.raises(ValueError):
            parse_id(bad)
        assert optional_id(bad) is None
    assert parse_id("9223372036854775807") == 2**63 - 1
    assert clean_text("a\x00b\x1bc\td\r\ne\ud800f😀") == "abc\td\r\nef😀"
