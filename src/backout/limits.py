"""How much the API accepts, in one place; docs/api.md lists the same numbers.

Each bound keeps one caller from filling the state store or the server's memory: a request body
is read whole before it is parsed, a reason is stored on a run and every timeline it reaches,
and a list is built in memory before it is sent.
"""

from __future__ import annotations

MAX_REQUEST_BODY_BYTES = 64 * 1024  # larger bodies are refused with 413 before they are parsed

MAX_REASON_CHARS = 1_000  # a reason (rollback, abort, flag change): a sentence, or a short log
MAX_NOTE_CHARS = 4_000  # a note or public update on an incident: a few paragraphs
MAX_VERSION_CHARS = 128  # a release version, as long as the store's column
MAX_REF_CHARS = 512  # a release's ref (a commit, an image, a recorded record set), the same
MAX_ACTOR_CHARS = 128  # who acted (BACKOUT_ACTOR, token:NAME), as long as the store's columns
MAX_TOKEN_NAME_CHARS = 64  # an API token's name: its actor `token:NAME` fits MAX_ACTOR_CHARS

DEFAULT_PAGE_SIZE = 50  # list endpoints without ?limit=
MAX_PAGE_SIZE = 1_000  # the largest ?limit= a list endpoint accepts

MAX_CLIENT_APPS = 1_000  # SDK instances whose registration the server keeps; the oldest go first
MAX_REGISTRATION_TEXT_CHARS = 256  # each text of a registration kept (app name, SDK version ...)
MAX_REGISTRATION_STRATEGIES = 100  # strategy names kept of one registration

MAX_REPORT_SECTION_CHARS = 20_000  # a report's root cause, or its lessons learned: a few pages
MAX_ACTION_ITEMS = 50  # action items of one report
MAX_ACTION_ITEM_CHARS = 500  # one action item: a sentence or two, with an owner and a ticket
