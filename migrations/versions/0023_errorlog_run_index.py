"""Housekeeping: an index on job_log_entry.run_id, so deleting old runs (which unlinks their
Errorlog entries, ON DELETE SET NULL) does not scan the whole Errorlog once per run.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-03 07:20:00

"""

from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_job_log_entry_run_id", "job_log_entry", ["run_id"], unique=False)


def downgrade():
    op.drop_index("ix_job_log_entry_run_id", table_name="job_log_entry")
