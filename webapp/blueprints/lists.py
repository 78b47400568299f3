"""The list scaffold of the dialogs (UI.md "Every list dialog"): the Suchkriterien as a GET form,
the page cursor, and the page or only its results for htmx.

A list view reads its filter with a `FilterForm` subclass, asks the core for a page
(`webapp.sms.paging`), and renders with `render_list`; the template shows the form with the
`search_bar` macro and the page with `pager` (templates/_macros.html).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import date
from enum import Enum
from typing import Any, TypeVar

from flask import render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import MultiDict
from wtforms import Field, Form, HiddenField, SearchField, SelectField

# WTForms 3.3 has SelectChoice, its stubs (types-WTForms 3.2) not yet.
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]
from wtforms.widgets import DateInput

from webapp.blueprints.forms import is_partial, parse_filter_date
from webapp.models import Mandant
from webapp.sms.paging import KeysetPage, ListSort
from webapp.validation import optional_id, parse_id

MAX_QUERY = 160  # longer search input is cut (nothing stored is longer)
E = TypeVar("E", bound=Enum)


class FilterForm(Form):
    """The Suchkriterien of a list, read from the query string (a GET changes nothing: no
    CSRF token). A bad value (a hand-edited URL) never fails the page: the field is empty and
    does not filter, a bad date is also named in `problems`."""

    class Meta:
        csrf = False

    def __init__(
        self,
        formdata: MultiDict[str, str] | None = None,
        *,
        mandanten: Sequence[Mandant] = (),
    ) -> None:
        super().__init__(request.args if formdata is None else formdata)
        for field in self:
            if isinstance(field, MandantFilter):
                field.offer(mandanten)

    def shown_fields(self) -> list[Field]:
        """The fields the search bar shows."""
        return [field for field in self if getattr(field, "shown", True)]

    @property
    def problems(self) -> list[str]:
        """What was ignored and why (a date that is not one)."""
        return [message for field in self for message in field.process_errors]

    @property
    def params(self) -> dict[str, Any]:
        """The filter as URL parameters, empty and default values left out: for the pager,
        the live poll and the bulk actions."""
        return {
            field.name: _param(field.data)
            for field in self
            if field.data not in (None, "") and field.data != field.default
        }

    def values(self) -> dict[str, Any]:
        """{field: value}: the keyword arguments of the core's filter class (the sort is not
        a criterion: `SortFilter.data`)."""
        return {
            name: field.data
            for name, field in self._fields.items()
            if not isinstance(field, SortFilter)
        }


def _param(value: object) -> str:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)


def text_filter(label: Any, limit: int = MAX_QUERY, **attributes: Any) -> SearchField:
    """A text criterion (type=search: the list updates as you type), trimmed and cut."""
    return SearchField(
        label, filters=[lambda value: (value or "").strip()[:limit]], render_kw=attributes
    )


def choice_filter(
    label: Any,
    options: Callable[[], Iterable[tuple[Any, Any]]],
    coerce: Callable[[Any], Any],
    default: Any = None,
) -> SelectField:
    """A select criterion: "alle" first, or without it the `default` chosen when the URL does
    not say; `coerce` gives None (or the default) for an unknown value."""

    def choices() -> list[SelectChoice]:
        offered = [SelectChoice(*option) for option in options()]
        return offered if default is not None else [SelectChoice("", _("alle")), *offered]

    return SelectField(
        label, coerce=coerce, choices=choices, default=default, validate_choice=False
    )


def member_of(enum_class: type[E]) -> Callable[[Any], E | None]:
    """The member with the value given, None for "" and unknown values."""

    def member(raw: Any) -> E | None:
        try:
            return enum_class(raw) if raw not in (None, "") else None
        except ValueError:
            return None

    return member


class MandantFilter(SelectField):
    """The Mandant criterion: "alle" and the Mandanten offered, shown only when there are two
    or more. Any id parses (`optional_id`); one outside the user's Mandanten finds nothing."""

    def __init__(self, label: Any = None, **kwargs: Any) -> None:
        super().__init__(
            label or _l("Mandant"), coerce=optional_id, validate_choice=False, **kwargs
        )
        self.shown = False

    def offer(self, mandanten: Sequence[Mandant]) -> None:
        self.choices = [
            SelectChoice("", _("alle")),
            *(SelectChoice(m.id, m.name) for m in mandanten),
        ]
        self.shown = len(mandanten) > 1


class KeptFilter(HiddenField):
    """An id that comes with a link (one SMS, from the forwarded e-mail): it filters and the
    pager keeps it, but the search bar does not show it, so a new search drops it."""

    shown = False

    def __init__(self, label: Any = None, **kwargs: Any) -> None:
        super().__init__(label, filters=[optional_id], **kwargs)


class IdFilter(SearchField):
    """A number criterion (the Serie of SMS Nachrichten): an id, or empty when the input is
    none (a bad value does not filter)."""

    def __init__(self, label: Any = None, **kwargs: Any) -> None:
        super().__init__(label, filters=[optional_id], render_kw={"inputmode": "numeric"}, **kwargs)


class SortFilter(Field):
    """The column the list is sorted by (`?sort=empfaenger`, `?sort=-versendet` descending):
    a `ListSort`, the list's default for a missing or unknown value. Not shown in the search
    bar: the results carry it as a hidden input of the search form (`sort_input` in
    _macros.html), so a new search keeps it; the pager, the live poll, the export links and
    the bulk actions get it with `params`."""

    shown = False

    def __init__(self, keys: Sequence[str], default: ListSort, **kwargs: Any) -> None:
        super().__init__(_l("Sortierung"), default=default, **kwargs)
        self.keys = tuple(keys)
        self.fallback = default

    def process_formdata(self, valuelist: list[str]) -> None:
        self.data = ListSort.parse(valuelist[0] if valuelist else None, self.keys, self.fallback)

    def _value(self) -> str:
        return str(self.data.param) if self.data else ""


class DateFilter(Field):
    """A day (<input type=date>, ISO); a bad one is ignored and named in the form's problems."""

    widget = DateInput()

    def process_formdata(self, valuelist: list[str]) -> None:
        self.data = None  # stays None when the date is refused
        self.data = parse_filter_date(valuelist[0] if valuelist else "")

    def _value(self) -> str:
        return self.data.isoformat() if self.data else ""


def cursor() -> tuple[int | None, int | None]:
    """The page asked for: `before` (the next, older page) and `after` (the previous one)."""
    args = request.args
    return args.get("before", type=parse_id), args.get("after", type=parse_id)


def render_list(
    page_template: str,
    results_template: str,
    target: str,
    form: FilterForm,
    page: KeysetPage,
    **context: Any,
) -> str:
    """The list page, or only its results when htmx swaps #target. The templates get the
    filter `form`, the `page` (with the filter's problems) and the filter as URL `params`
    (for the pager)."""
    page.problems = form.problems
    template = results_template if is_partial(target) else page_template
    return render_template(template, form=form, page=page, params=form.params, **context)
