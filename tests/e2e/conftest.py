"""Browser tests: Playwright drives the system Chromium against a live server of the real app.

One live server (werkzeug, threaded) per session, on a fresh migrated database with CSRF
switched on. pytest-playwright gives every test its own browser context, so tests share no
cookies; they share the database, so no test may rely on another one's data or on the order.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Page
from werkzeug.serving import make_server

from tests.conftest import make_test_app
from tests.databases import DatabaseFactory
from tests.e2e.support import log_in, seed
from webapp.extensions import db

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_MISSING = "Chromium fehlt: apt-get install chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
E2E_DIR = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # This hook sees the items of the whole run: mark only the tests below this folder.
    for item in items:
        if E2E_DIR in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.e2e)


def require_chromium() -> None:
    """Skip without Chromium; in CI (CI set) a missing browser is an error, not a skip."""
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return
    if os.environ.get("CI"):
        pytest.fail(CHROMIUM_MISSING, pytrace=False)
    pytest.skip(CHROMIUM_MISSING)


@pytest.fixture(scope="session", autouse=True)
def _chromium_available() -> None:
    # Autouse and session-scoped: runs before the live server and the browser are set up.
    require_chromium()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    require_chromium()
    return {
        "headless": True,  # --headed on the command line still wins
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        "args": CHROMIUM_ARGS,
    }


@pytest.fixture(scope="session")
def live_app(
    databases: DatabaseFactory, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Flask]:
    """The app on its own migrated database, seeded with the test users."""
    url = databases.new_database()
    app = make_test_app(
        url, tmp_path_factory.mktemp("e2e-instance"), redis_url, WTF_CSRF_ENABLED=True
    )
    with app.app_context():
        seed(db.session)
        db.session.remove()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    databases.drop(url)


@pytest.fixture(scope="session")
def live_server(live_app: Flask) -> Iterator[str]:
    """Serve `live_app` on a free loopback port in a daemon thread; yields the base URL."""
    server = make_server("127.0.0.1", 0, live_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="e2e-live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def base_url(live_server: str) -> str:
    """pytest-base-url's fixture: pytest-playwright opens relative URLs against it."""
    return live_server


@pytest.fixture(autouse=True)
def _short_action_timeout(page: Page) -> None:
    # Playwright waits 30 s for an action by default; on this local server 10 s is plenty and
    # a broken locator fails fast. (`expect` keeps its own 5 s default.)
    page.context.set_default_timeout(10_000)


@pytest.fixture(autouse=True)
def _no_content_security_policy_violations(page: Page) -> Iterator[None]:
    """Every browser test fails when the page needed something the Content-Security-Policy
    blocks (an inline script, handler or style, eval): Chromium reports each in the console."""
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    yield
    assert violations == [], "the page needed what the Content-Security-Policy blocks"


@pytest.fixture
def login(page: Page) -> Callable[[str], Page]:
    """login("admin"): log in on this test's page through the real form."""

    def login_as(username: str) -> Page:
        return log_in(page, username)

    return login_as
