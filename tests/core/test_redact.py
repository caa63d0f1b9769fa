"""redact(): what a secret looks like in a message, and what must stay readable around it."""

from __future__ import annotations

import logging
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backout.errors import BackoutError, ConfigError
from backout.redact import MASK, redact, redact_json, remember_secret


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "the Unleash server at http://admin:hunter2@unleash:4242 is not reachable",
            "the Unleash server at http://admin:***@unleash:4242 is not reachable",
        ),
        ("postgresql://app:s3cret@db:5432/shop", "postgresql://app:***@db:5432/shop"),
        ("postgresql://app:p@ss@word@db/shop", "postgresql://app:***@db/shop"),
        ("postgresql://:only-password@db/shop", "postgresql://:***@db/shop"),
        (
            "json://hook:x@127.0.0.1:9/path and mailto://a:b@mail",
            "json://hook:***@127.0.0.1:9/path and mailto://a:***@mail",
        ),
        ("GET /health?token=abc123&verbose=1", "GET /health?token=***&verbose=1"),
        ("last line 'token=cmdsecret456')", "last line 'token=***')"),
        ("(password=hunter2)", "(password=***"),  # a `)` may be the secret's: masked too
        ("PGPASSWORD=x9)Lk2]q and password=pa)ss", "PGPASSWORD=*** and password=***"),
        ("?sig=ab)cd&x=1 secret=${HOME}", "?sig=***&x=1 secret=***"),
        ("https://h/x?api_key=k1&access_token=k2", "https://h/x?api_key=***&access_token=***"),
        (
            "host=db user=app password=s3cret dbname=shop",
            "host=db user=app password=*** dbname=shop",
        ),
        ("host=db password='two words' dbname=shop", "host=db password=*** dbname=shop"),
        ("Authorization: Bearer bk_abcdefgh12345", "Authorization: Bearer ***"),
        (
            "https://b.s3/x?X-Amz-Signature=f00d&X-Amz-Credential=AKIA1",
            "https://b.s3/x?X-Amz-Signature=***&X-Amz-Credential=***",
        ),
        (
            "http://h/cb?refresh_token=r1&db_password=p1",
            "http://h/cb?refresh_token=***&db_password=***",
        ),
        ("https://maps.example/api?key=AIza5ecret&q=1", "https://maps.example/api?key=***&q=1"),
        (
            "https://app.example/cb#access_token=t0k3n&x=1",
            "https://app.example/cb#access_token=***&x=1",
        ),
        (
            "GET /x?Private-Key=k1&x-api-key=k2&access_key=k3&passphrase=k4&jwt=k5&session=k6",
            "GET /x?Private-Key=***&x-api-key=***&access_key=***&passphrase=***&jwt=***&session=***",
        ),
        ("auth=k1 authorization=k2 sessionid=k3", "auth=*** authorization=*** sessionid=***"),
        ("http://Sup3rSecretPW@127.0.0.1:1/", "http://***@127.0.0.1:1/"),
        ("https://admin%3ASup3rSecretPW@unleash/api", "https://***@unleash/api"),
        ("postgresql://app%3As3cret@db/shop", "postgresql://app%3A***@db/shop"),
        ("postgresql://j%40doe:s3cret@db/shop", "postgresql://j%40doe:***@db/shop"),
    ],
)
def test_a_secret_is_masked_and_the_rest_stays_readable(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "http://127.0.0.1:3000/health answered 500",
        "postgresql://app@db:5432/shop",
        "run 7 of api to 1.0.0 failed: health checks did not pass in time",
        "bypass=1 compass=north",
        "monkey=1 keys=2 tokens_left=3",
        "postgresql://app@db/shop",
        "write to ops@example.com",
        "user@example.com wrote at 12:00",
        "",
    ],
)
def test_text_without_a_secret_is_unchanged(text: str) -> None:
    assert redact(text) == text


@given(
    password=st.text(
        alphabet=string.ascii_letters + string.digits + "!$%^*()_-+=~.@", min_size=1, max_size=30
    ),
    before=st.text(max_size=20),
    after=st.text(alphabet=string.ascii_letters + " /:.", max_size=20),
)
def test_no_password_of_a_url_survives_anywhere_in_a_message(
    password: str, before: str, after: str
) -> None:
    url = f"https://deploy:{password}@example.test:8443/api"
    redacted = redact(f"{before} {url}{after}")
    assert f"deploy:{password}@" not in redacted
    assert "deploy:***@example.test:8443/api" in redacted


def test_a_remembered_secret_is_masked_wherever_it_appears() -> None:
    remember_secret("tok-Remembered-123")
    assert redact("the server said: bad token tok-Remembered-123!") == (
        f"the server said: bad token {MASK}!"
    )


def test_a_short_value_is_not_remembered_so_common_words_stay_readable() -> None:
    remember_secret("admin")
    assert redact("signed in as admin") == "signed in as admin"


def test_every_string_in_a_json_value_is_redacted() -> None:
    value = {"url": "http://u:pw@h/x", "tries": 3, "seen": ["password=pw", None]}
    assert redact_json(value) == {
        "url": "http://u:***@h/x",
        "tries": 3,
        "seen": ["password=***", None],
    }


def test_an_error_is_redacted_when_it_is_made_so_every_channel_gets_the_redacted_text() -> None:
    error = BackoutError("cannot reach http://u:pw@h:1", hint="check password=pw")
    assert error.message == "cannot reach http://u:***@h:1"
    assert error.hint == "check password=***"
    assert "pw@" not in str(error)
    config = ConfigError("backout.yaml", ["flags.provider.url: got 'http://u:pw@h'"])
    assert config.problems == ["flags.provider.url: got 'http://u:***@h'"]


def test_log_records_are_redacted_whichever_handler_prints_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from backout.redact import install_log_redaction

    planted = "password=" + "pw"  # not in the traceback's source line
    previous = logging.getLogRecordFactory()
    install_log_redaction()
    install_log_redaction()  # idempotent: one layer of redaction
    try:
        with caplog.at_level(logging.WARNING, logger="backout.test"):
            logging.getLogger("backout.test").warning("from %s", "http://u:pw@h/x")
            try:
                raise RuntimeError(planted)
            except RuntimeError:
                logging.getLogger("backout.test").exception("failed")
    finally:
        logging.setLogRecordFactory(previous)
    assert caplog.records[0].getMessage() == "from http://u:***@h/x"
    assert "password=pw" not in caplog.text
    assert "password=***" in caplog.text


def test_a_record_keeps_the_argument_tuple_a_formatter_reads(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """uvicorn's access log unpacks `record.args`; a redacted record must still unpack."""
    from backout.redact import install_log_redaction

    previous = logging.getLogRecordFactory()
    install_log_redaction()
    try:
        with caplog.at_level(logging.INFO, logger="backout.test"):
            access = ("127.0.0.1:5", "GET", "/x?token=abcdef", "1.1", 200)
            logging.getLogger("backout.test").info('%s - "%s %s HTTP/%s" %d', *access)
            logging.getLogger("backout.test").info("plain %s", "nothing secret")
    finally:
        logging.setLogRecordFactory(previous)
    redacted, plain = caplog.records
    assert redacted.args == ("127.0.0.1:5", "GET", "/x?token=***", "1.1", 200)
    assert plain.args == ("nothing secret",)
