"""The dashboard's forms, read from their urlencoded body with the standard library.

Every form of the dashboard is `application/x-www-form-urlencoded` (no file is uploaded), so
FastAPI's `Form()` and its python-multipart dependency are not needed. The body is already
capped by the BodySizeLimit middleware; the number of fields is capped here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import Depends, Request

from backout.errors import RefusedError
from backout.limits import MAX_REASON_CHARS

FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
MAX_FIELDS = 20


class FormError(RefusedError):
    """A form field missing or too long (the dashboard answers 422)."""


@dataclass(frozen=True)
class FormFields:
    values: dict[str, list[str]]  # every value of each field, in the order sent

    def text(self, name: str, *, required: bool = True, max_chars: int = MAX_REASON_CHARS) -> str:
        """The field `name`, stripped; FormError when it is required and empty, or too long."""
        value = self.first(name).strip()
        if required and not value:
            raise FormError(f"the form's field {name!r} is required")
        if len(value) > max_chars:
            raise FormError(f"the form's field {name!r} is longer than {max_chars} characters")
        return value

    def first(self, name: str) -> str:
        """The field's first value as sent ('' when absent)."""
        return (self.values.get(name) or [""])[0]

    def every(self, name: str) -> list[str]:
        """Every value of a field sent several times (checkboxes of one name), in order."""
        return list(self.values.get(name, []))


async def read_form(request: Request) -> FormFields:
    """The request's form fields; none for another media type."""
    kept = getattr(request.state, "form_fields", None)
    if isinstance(kept, FormFields):
        return kept
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    values: dict[str, list[str]] = {}
    if media_type == FORM_MEDIA_TYPE:
        try:
            pairs = parse_qsl(
                (await request.body()).decode(), keep_blank_values=True, max_num_fields=MAX_FIELDS
            )
        except (UnicodeDecodeError, ValueError):
            raise FormError("the form is not valid UTF-8 urlencoded fields") from None
        for name, value in pairs:
            values.setdefault(name, []).append(value)
    fields = FormFields(values)
    request.state.form_fields = fields
    return fields


Form = Annotated[FormFields, Depends(read_form)]
