"""`flask db upgrade` on an empty database gives exactly the schema of the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

from webapp.extensions import db as _db
from webapp.models import GlobalVariable, MobilePrefix
from webapp.models.sms import is_search_index_object


def test_upgraded_database_matches_the_models(app):
    with _db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "compare_server_default": False,
                "include_object": lambda obj, name, *rest: not is_search_index_object(name),
            },
        )
        diff = compare_metadata(context, _db.metadata)
    assert diff == [], f"the models differ from the migrations: run flask db migrate ({diff})"


def test_migration_seeds_the_seven_globals(db):
    numbers = list(db.scalars(select(GlobalVariable.number).order_by(GlobalVariable.number)))
    assert numbers == [1400, 1401, 1402, 1539, 1580, 1581, 2890]
    fixtext = db.get(GlobalVariable, 1402)
    assert fixtext.name == "GLOBAL_SMS_FIXTEXT_AM_ENDE"
    assert fixtext.value_type == "text"
    assert "Ende jeder SMS" in fixtext.description
    assert db.get(GlobalVariable, 1401).value_type == "email"


def test_migration_seeds_austrian_and_german_mobile_prefixes(db):
    prefixes = set(db.scalars(select(MobilePrefix.prefix)))
    for austrian in (
        "43650",
        "43660",
        "43664",
        "43676",
        "43677",
        "43678",
        "43680",
        "43681",
        "43688",
        "43690",
        "43699",
    ):
        assert austrian in prefixes
    for german in ("49151", "49160", "49170", "49179"):
        assert german in prefixes
    assert "431" not in prefixes  # Vienna landline


def test_downgrade_and_upgrade_again(app):
    from flask_migrate import downgrade, upgrade

    downgrade(revision="base")
    upgrade()
    # A new installation starts with the SMS service off (the test template switches it on).
    assert _db.session.get(GlobalVariable, 1400).value == "0"


def test_text_search_index_exists_and_follows_the_messages(app, db):
    """Migration 0003's search index is there; on SQLite its triggers track inserts/deletes."""
    from sqlalchemy import text

    from webapp import accounts
    from webapp.models import Message, MessageSource
    from webapp.sms.outbox import queue_sms

    if db.get_bind().dialect.name == "postgresql":
        indexes = db.execute(
            text("SELECT indexname FROM pg_indexes WHERE tablename = 'sms_message'")
        )
        assert "ix_sms_message_text_trgm" in indexes.scalars().all()
        return
    mandant = accounts.save_mandant(db, "HV")
    message = queue_sms(
        db,
        recipient="06641234567",
        text="Wasserrohrbruch",
        mandant_id=mandant.id,
        source=MessageSource.MANUAL,
    )
    db.commit()
    find = text("SELECT rowid FROM sms_message_fts WHERE text LIKE '%rohrbruch%'")
    assert db.execute(find).scalars().all() == [message.id]
    db.delete(db.get(Message, message.id))
    db.commit()
    assert db.execute(find).scalars().all() == []


def test_migration_creates_the_system_job_service_sms(db):
    from webapp.models import Job

    job = db.scalar(select(Job).where(Job.job_type == "service_sms"))
    assert job.name == "Service SMS" and job.system is True and job.active is False
    # Migration 0018 made its Variante 2 channel 1 (websms, nothing entered yet).
    assert job.settings == {"websms": {}}
    assert [(c.position, c.kind, c.enabled) for c in job.channels] == [(1, "websms", True)]
