"""One error shape for the whole platform.

Every domain error is an :class:`AppError`; the HTTP layer renders it as
``{"error": {"code", "message", "details"}}`` and the CLI prints the same
document on standard error.
"""

from __future__ import annotations

import uuid
from typing import Any


class Text(str):
    """A message for people: the English text, which remembers its template and parameters so that
    a page can show it in the reader's language.

    ``Text("unknown {what} '{code}'", what=Text("port code"), code="CNXXX")`` is the string
    ``unknown port code 'CNXXX'`` everywhere a ``str`` is expected (JSON answers, logs, the CLI);
    :func:`onewindow.web.i18n.message_text` translates the template (and any parameter that is a
    ``Text`` itself) through the page catalogue. Parameters are inserted as they are (user input with
    braces stays untouched).
    """

    template: str
    params: dict[str, Any]

    def __new__(cls, template: str, **params: Any) -> Text:
        text = super().__new__(cls, fill(template, params))
        text.template, text.params = template, params
        return text

    def __reduce__(self):  # pickled (e.g. across processes) as the same message
        return (_text, (self.template, self.params))


def _text(template: str, params: dict[str, Any]) -> Text:
    return Text(template, **params)


def joined(parts: list[Any], separator: str) -> Text | str:
    """``parts`` joined by ``separator`` (no braces in it) as one message whose parts that are Texts are still
    translated."""
    if not parts:
        return ""
    if len(parts) == 1:
        return parts[0]
    template = "{first}" + separator + "{rest}"  # nothing to translate but the parts
    return Text(template, first=parts[0], rest=joined(parts[1:], separator))


TEXT_KEY = "onewindow_text"
"""Key of a Pydantic error's context holding the :class:`Text` of the error (see ``refdata.types``)."""


def fill(template: str, params: dict[str, Any]) -> str:
    """``template`` with each ``{name}`` replaced by ``str(params[name])``, in one pass (values are not
    templates: braces in them stay as they are)."""
    if not params:
        return template
    out, position = [], 0
    while (start := template.find("{", position)) >= 0:
        end = template.find("}", start)
        name = template[start + 1:end] if end > 0 else ""
        if name not in params:
            out.append(template[position:start + 1])
            position = start + 1
            continue
        out += [template[position:start], str(params[name])]
        position = end + 1
    out.append(template[position:])
    return "".join(out)


class AppError(Exception):
    """A domain error with a stable ``code``, a human ``message`` and an HTTP ``status``."""

    status: int = 400
    code: str = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, details: list[Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details or []

    def to_dict(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class Unauthenticated(AppError):
    status, code = 401, "unauthenticated"


class Forbidden(AppError):
    """The caller may see the record but its role lacks the permission."""

    status, code = 403, "forbidden"


class NotFound(AppError):
    """The record does not exist or the caller may not see it (never 403)."""

    status, code = 404, "not_found"

    @classmethod
    def of(cls, what: str, ident: object) -> NotFound:
        return cls(f"{what} {ident} was not found")


def parse_id(raw: str | uuid.UUID, what: str) -> uuid.UUID:
    """An id from a URL; a malformed one is a record that does not exist (404), like any other."""
    if isinstance(raw, uuid.UUID):
        return raw
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound.of(what, raw) from None


class Conflict(AppError):
    """The action is not allowed in the record's current state."""

    status, code = 409, "conflict"


class ValidationFailed(AppError):
    """An invalid payload; ``details`` holds one ``{"loc": [...], "msg": ...}`` per bad field."""

    status, code = 422, "validation_failed"

    def __init__(self, details: list[dict[str, Any]], message: str | None = None) -> None:
        n = len(details)
        super().__init__(message or (Text("1 field is invalid") if n == 1 else Text("{n} fields are invalid", n=n)),
                         details=details)


def field_error(loc: tuple[Any, ...] | list[Any], msg: str) -> dict[str, Any]:
    """One detail of a :class:`ValidationFailed`, naming a field by its path."""
    return {"loc": list(loc), "msg": msg}


def text_errors(loc: tuple[Any, ...] | list[Any], text: str | None, most: int) -> list[dict[str, Any]]:
    """What is wrong with a free text about to be stored in a column of ``most`` characters, as details of a
    :class:`ValidationFailed` naming the field at ``loc``: a NUL character (no PostgreSQL text holds one), or
    more than ``most`` characters, said as the API's schemas say it (``String should have at most 1000
    characters``, type ``string_too_long``). Nothing for ``None`` or a fitting text."""
    if text is None:
        return []
    if "\x00" in text:
        return [field_error(loc, Text("must not contain the NUL character (U+0000)"))]
    if len(text) > most:
        return [{**field_error(loc, Text(PYDANTIC_MESSAGES["string_too_long"], max_length=most)),
                 "type": "string_too_long"}]
    return []


def pydantic_details(errors: list[dict[str, Any]], strip: tuple[str, ...] = ("body",)) -> list[dict[str, Any]]:
    """Turn Pydantic's error list into our details (path, message, type)."""
    out = []
    for err in errors:
        loc = list(err.get("loc", ()))
        while loc and loc[0] in strip:
            loc.pop(0)
        message = (err.get("ctx") or {}).get(TEXT_KEY) or _known_message(err) or err.get("msg", "invalid")
        out.append({"loc": loc, "msg": message, "type": err.get("type", "value_error")})
    return out


def N_(message: str) -> str:  # noqa: N802 - the usual gettext marker: a message the catalogue holds
    return message


PYDANTIC_MESSAGES: dict[str, str] = {
    "missing": N_("Field required"),
    "extra_forbidden": N_("Extra inputs are not permitted"),
    "finite_number": N_("Input should be a finite number"),
    "float_parsing": N_("Input should be a valid number, unable to parse string as a number"),
    "float_type": N_("Input should be a valid number"),
    "int_parsing": N_("Input should be a valid integer, unable to parse string as an integer"),
    "int_from_float": N_("Input should be a valid integer, got a number with a fractional part"),
    "int_type": N_("Input should be a valid integer"),
    "string_type": N_("Input should be a valid string"),
    "list_type": N_("Input should be a valid list"),
    "dict_type": N_("Input should be a valid dictionary"),
    "greater_than": N_("Input should be greater than {gt}"),
    "greater_than_equal": N_("Input should be greater than or equal to {ge}"),
    "less_than": N_("Input should be less than {lt}"),
    "less_than_equal": N_("Input should be less than or equal to {le}"),
    "string_too_short": N_("String should have at least {min_length} character"),
    "string_too_long": N_("String should have at most {max_length} characters"),
    "too_short": N_("List should have at least {min_length} item after validation, not {actual_length}"),
    "too_long": N_("List should have at most {max_length} items after validation, not {actual_length}"),
}
"""Pydantic's messages of the kinds an entry's fields meet, as :class:`Text` templates (so that pages can say
them in the reader's language); each is used only when it gives exactly Pydantic's English."""


def _known_message(err: dict[str, Any]) -> Text | None:
    """Pydantic's message of ``err`` as a :class:`Text` with the same English, or None when it has no template
    here (or the template does not give exactly its words)."""
    template = PYDANTIC_MESSAGES.get(err.get("type", ""))
    if template is None:
        return None
    text = Text(template, **{k: v for k, v in (err.get("ctx") or {}).items() if isinstance(v, int | float | str)})
    return text if str(text) == err.get("msg") else None
