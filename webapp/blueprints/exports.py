"""Downloads of the lists with the filter in force (CSV, XLSX): the response around an export
of the core (`webapp.sms.export`), streamed as it is read.

A list's blueprint declares its export view with two routes, `…/export.csv` and
`…/export.xlsx` (`defaults={"fmt": …}`) and the list's permission, reads the filter with the
list's own `FilterForm` exactly as the list does, and returns `download(export, fmt)`. The
links are the `export_menu` macro (templates/_macros.html), placed in the list's results so
that they carry the filter shown.
"""

from __future__ import annotations

from collections.abc import Iterator

from flask import Response, stream_with_context

from webapp.extensions import db
from webapp.formatting import to_local
from webapp.models.base import utcnow
from webapp.sms.export import Export, chunks, mimetype


def download(export: Export, fmt: str) -> Response:
    """`export` as a file download in `fmt`, streamed: rows are read from the database while
    the response is sent, so memory stays flat. The export reads with the request's session
    (`db.session()`, as the views pass it)."""
    session = db.session()

    def body() -> Iterator[bytes]:
        try:
            yield from chunks(export, fmt)
        finally:
            # Flask ends the request's app context, and removes this session, as soon as the
            # view returns; the body is read after that, and the session it reads with holds a
            # connection again: give it back when the download ends (or is cancelled).
            session.close()

    filename = export.filename(fmt, to_local(utcnow()).date())
    response = Response(stream_with_context(body()), mimetype=mimetype(fmt))
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"  # a user's data: no cache on the way keeps it
    return response
