"""`flask --app wsgi …` commands."""

from __future__ import annotations

import os
import sys

import click
from flask import Flask
from sqlalchemy import select

from webapp import accounts
from webapp.errors import InputError
from webapp.extensions import db
from webapp.models import User


def register(app: Flask) -> None:
    @app.cli.command("create-admin")
    @click.argument("username")
    @click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
    def create_admin(username: str, password_stdin: bool) -> None:
        """Create an administrator (or make an existing user one and set its password).

        The password comes from ADMIN_PASSWORD, from standard input with --password-stdin,
        or is asked for twice.
        """
        if password_stdin:
            password = sys.stdin.readline().rstrip("\n")
        elif os.environ.get("ADMIN_PASSWORD"):
            password = os.environ["ADMIN_PASSWORD"]
        else:
            password = click.prompt("Passwort", hide_input=True, confirmation_prompt=True)
        existing = db.session.scalar(
            select(User).where(User.username == accounts.normalize_username(username))
        )
        data = accounts.UserInput(
            username=username,
            display_name=existing.display_name if existing else "",
            email=existing.email if existing else "",
            password=password,
            is_administrator=True,
            active=True,
            role_ids=[r.id for r in existing.roles] if existing else [],
            mandant_ids=[m.id for m in existing.mandanten] if existing else [],
        )
        try:
            user = accounts.save_user(db.session, data, existing)
        except InputError as error:
            db.session.rollback()
            raise click.ClickException(error.message) from None
        db.session.commit()
        click.echo(f"Administrator {user.username} ist angelegt.")

    @app.cli.command("seed-demo")
    def seed_demo_command() -> None:
        """Create the demo Mandanten and roles and switch the SMS service on."""
        from webapp.demo import seed_demo

        seed_demo(db.session)
        db.session.commit()
        click.echo("Demodaten angelegt.")
