"""Request dependencies: the runtime, the controller, and the caller a bearer token names."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any, cast

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from backout.controller.controller import Controller
from backout.errors import PermissionDeniedError
from backout.operations.tokens import Role, require
from backout.runtime import Runtime
from backout.web.read_cache import ReadCache
from backout.web.token_cache import TokenCache

_HOW_TO_AUTHENTICATE = (
    "send 'Authorization: Bearer <token>'; make one with: backout token create NAME --role ROLE"
)

bearer = HTTPBearer(auto_error=False, description="A token made by `backout token create`.")


class NotAuthenticatedError(PermissionDeniedError):
    """No token, or one that is unknown or revoked (HTTP 401, unlike a too-low role's 403)."""


@dataclass(frozen=True)
class Caller:
    name: str
    role: Role

    @property
    def actor(self) -> str:
        """The name recorded in the audit log and on incident timelines."""
        return f"token:{self.name}"


# The dependencies are coroutines, though they only look up app.state: FastAPI runs a plain
# function dependency in its thread pool, a hop that costs more than the lookup itself.
async def get_runtime(request: Request) -> Runtime:
    return cast(Runtime, request.app.state.runtime)


async def get_controller(request: Request) -> Controller:
    return cast(Controller, request.app.state.controller)


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
ControllerDep = Annotated[Controller, Depends(get_controller)]


async def get_read_cache(request: Request) -> ReadCache:
    return cast(ReadCache, request.app.state.read_cache)


ReadCacheDep = Annotated[ReadCache, Depends(get_read_cache)]


async def get_token_cache(request: Request) -> TokenCache:
    return cast(TokenCache, request.app.state.token_cache)


TokenCacheDep = Annotated[TokenCache, Depends(get_token_cache)]


async def check_token(cache: TokenCache, token: str) -> tuple[str, Role]:
    """The (name, role) of `token`: from the cache, or from the store in a worker thread (the
    event loop must not wait on the store); NotAuthenticatedError when it is not valid."""
    known = cache.caller_of(token)
    if known is not None:
        return known
    try:
        return await asyncio.to_thread(cache.authenticate, token)
    except PermissionDeniedError as error:
        raise NotAuthenticatedError(error.message, hint=_HOW_TO_AUTHENTICATE) from None


def caller_with(needed: Role, action: str) -> Callable[..., Coroutine[Any, Any, Caller]]:
    """A dependency that authenticates the caller and refuses a role below `needed`."""

    async def authenticated_caller(
        cache: TokenCacheDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Caller:
        if credentials is None:
            raise NotAuthenticatedError(
                "this endpoint needs an API token", hint=_HOW_TO_AUTHENTICATE
            )
        name, role = await check_token(cache, credentials.credentials)
        require(role, needed, action)
        return Caller(name, role)

    return authenticated_caller


Viewer = Annotated[Caller, Depends(caller_with(Role.VIEWER, "reading"))]
