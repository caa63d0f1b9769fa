"""Triggers from outside: Alertmanager's webhook receiver and the security report.

The receiver takes a bearer token (operator role or above: Alertmanager's
`http_config.authorization`) or a signed delivery (`Backout-Signature`, with the secret named
by `alerts.hmac_secret_env`; operations/webhook_signatures.py). It answers 202 whatever it did
with each alert — an alert backout cannot act on too, saying why — so that the sender does not
retry it forever; the runs it starts go on in the server's background.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials

from backout.controller.controller import Controller
from backout.errors import ExitCode
from backout.operations.alerts import Alert, AlertOutcome, receive_alerts
from backout.operations.outside_triggers import TriggerOutcome
from backout.operations.security import Advisory, report_advisory
from backout.operations.tokens import Role, require
from backout.operations.webhook_signatures import SIGNATURE_HEADER, verify
from backout.runtime import Runtime
from backout.web.auth import (
    Caller,
    ControllerDep,
    NotAuthenticatedError,
    RuntimeDep,
    TokenCacheDep,
    bearer,
    caller_with,
    check_token,
)
from backout.web.schemas import TOKEN_ERRORS, error_responses
from backout.web.schemas_triggers import (
    AlertmanagerIn,
    AlertOutcomeOut,
    AlertsAcceptedOut,
    SecurityIn,
    TriggerOutcomeOut,
)

log = logging.getLogger(__name__)

router = APIRouter(tags=["triggers"], responses=error_responses(*TOKEN_ERRORS))

SecurityCaller = Annotated[Caller, Depends(caller_with(Role.OPERATOR, "reporting an advisory"))]

_HOW = (
    "send 'Authorization: Bearer <token>' (a token of role operator or above), or sign the "
    f"delivery ({SIGNATURE_HEADER}; docs/triggers.md)"
)


async def alert_sender(
    request: Request,
    runtime: RuntimeDep,
    cache: TokenCacheDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    signature: Annotated[
        str | None,
        Header(
            alias=SIGNATURE_HEADER,
            max_length=1024,
            description="t=<unix time>,v1=<hex HMAC-SHA256 of '<t>.<body>'>: instead of a "
            "token, with the secret of alerts.hmac_secret_env.",
        ),
    ] = None,
) -> str:
    """Who sent the delivery (the actor on the timeline); 401 unless a token or signature
    says it may."""
    if credentials is not None:
        name, role = await check_token(cache, credentials.credentials)
        require(role, Role.OPERATOR, "posting alerts")
        return f"token:{name}"
    if signature is None:
        raise NotAuthenticatedError("this endpoint needs an API token or a signature", hint=_HOW)
    secret = _secret(runtime)
    if secret is None:
        raise NotAuthenticatedError("signed deliveries are not accepted here", hint=_HOW)
    body = await request.body()
    await asyncio.to_thread(verify, runtime, signature, body, secret=secret)
    return "alertmanager:signed"


def _secret(runtime: Runtime) -> bytes | None:
    variable = runtime.config.alerts.hmac_secret_env
    value = os.environ.get(variable) if variable else None
    if variable and not value:
        # The server's log, not the answer: the sender need not know how backout is set up.
        log.warning(
            "alerts.hmac_secret_env names %s, which is not set: no signature is good", variable
        )
    return value.encode() if value else None


@router.post(
    "/alerts/alertmanager",
    status_code=202,
    response_model=AlertsAcceptedOut,
    responses=error_responses(409, 413),
    summary="Alertmanager's webhook: each firing alert a trigger for the service it names",
)
def alertmanager(
    body: AlertmanagerIn,
    runtime: RuntimeDep,
    controller: ControllerDep,
    actor: Annotated[str, Depends(alert_sender)],
) -> AlertsAcceptedOut:
    """202 with what was done with each alert (an alert for no configured service is recorded
    in the audit log and answered too, so that Alertmanager does not retry it)."""
    alerts = [
        Alert(
            status=a.status,
            labels=a.labels,
            annotations=a.annotations,
            starts_at=a.startsAt,
            ends_at=a.endsAt,
            fingerprint=a.fingerprint,
            generator_url=a.generatorURL,
        )
        for a in body.alerts
    ]
    outcomes = receive_alerts(runtime, alerts, actor=actor)
    for outcome in outcomes:
        log.info("%s", outcome.sentence)
        _go_on(controller, outcome.trigger)
    return AlertsAcceptedOut(received=len(alerts), outcomes=[_alert_out(o) for o in outcomes])


@router.post(
    "/services/{service}/security",
    status_code=202,
    response_model=TriggerOutcomeOut,
    responses=error_responses(404, 409, 413),
    summary="Report a security advisory affecting releases; apply the security policy",
)
def security(
    service: str,
    body: SecurityIn,
    runtime: RuntimeDep,
    controller: ControllerDep,
    caller: SecurityCaller,
) -> TriggerOutcomeOut:
    """Records the advisory on each affected release (default: the live one); when the live
    one is affected, opens a security incident and applies the policy: by default a rollback
    to the newest good release no advisory affects, going on in the server."""
    report = Advisory(service, body.advisory, tuple(body.affected or ()))
    outcome = report_advisory(runtime, report, actor=caller.actor)
    _go_on(controller, outcome)
    refused = outcome.refused
    return TriggerOutcomeOut(
        action=outcome.action,
        message=outcome.sentence,
        incident_id=outcome.incident_id,
        run_id=outcome.run_id,
        error=refused.message if refused else None,
        exit_code=int(refused.exit_code if refused else ExitCode.OK),
    )


def _go_on(controller: Controller, outcome: TriggerOutcome | None) -> None:
    if outcome is not None and outcome.handle is not None:
        outcome.handle.execute_in_background(controller)


def _alert_out(outcome: AlertOutcome) -> AlertOutcomeOut:
    return AlertOutcomeOut(
        alert=outcome.alert,
        service=outcome.service,
        action=outcome.action,
        message=outcome.sentence,
        incident_id=outcome.incident_id,
        run_id=outcome.run_id,
    )
