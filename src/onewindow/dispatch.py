"""The handler of an API route: what FastAPI's request handler does for the routes the API has, in fewer steps
(decision 29).

FastAPI's handler is general: every request it solves the route's dependencies as a tree (a nested
``solve_dependencies`` for the caller's scheme, which parses the query string and the cookies again, computes a
cache key and classifies callables), finds each parameter's aliases and asks whether its type is a sequence,
parses the content type with ``email.message``, looks up the request's telemetry four times and opens two exit
stacks for dependencies with ``yield``. For a route of the shape the API's routes have (see :func:`plan_of`)
:class:`Plan` does the same work with what can be known per route worked out once: the same pydantic
validators, so the same values and the same 422 details (``loc`` included); the same status codes, headers
and serialization; the same order of refusals (malformed JSON, then the caller's 401, then the parameters'
and the body's 422).

A request falls back to FastAPI's own handler when dependency overrides are set or the request is observed
by FastAPI's native telemetry (an OpenTelemetry provider is configured): both are FastAPI's to handle.
Exceptions raised by the handler are rendered by the application's exception handlers, as they are for
FastAPI's handler (by the application's exception middleware instead of a copy of it around the route: the
handlers, the request they see aside, are the same).
"""

from __future__ import annotations

import email.message
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import params
from fastapi._body_limit import get_body_limit_error
from fastapi._compat import ModelField, Undefined, field_annotation_is_sequence
from fastapi.datastructures import DefaultPlaceholder
from fastapi.dependencies.models import (
    Dependant,
    _is_async_gen_callable,
    _is_coroutine_callable,
    _is_gen_callable,
)
from fastapi.dependencies.utils import (
    _get_form_models,
    _get_param_aliases,
    _get_param_model,
    _is_json_field,
    _should_embed_body_fields,
    _validate_value_with_model_field,
)
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import EndpointContext, RequestValidationError, ResponseValidationError
from fastapi.routing import APIRoute, _extract_endpoint_context
from fastapi.telemetry._api import _get_request_telemetry
from fastapi.utils import is_body_allowed_for_status_code
from starlette.exceptions import HTTPException
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send


@dataclass(frozen=True, slots=True)
class Param:
    """A path, query or header parameter: its field, the key it is read by, its ``loc`` in errors, whether its
    type is a sequence and whether all its values are read (``getlist``)."""

    field: ModelField
    alias: str
    loc: tuple[str, str]
    sequence: bool
    every_value: bool


def _param(field: ModelField, multi_dict: bool) -> Param | None:
    """What ``request_params_to_args`` works out for ``field`` on every request, or None for a field it reads
    otherwise than by one key (a parameter model, several aliases)."""
    if _get_param_model(field) is not None:
        return None
    aliases = _get_param_aliases(field)
    if len(aliases) != 1:
        return None
    alias = aliases[0][1]
    sequence = field_annotation_is_sequence(field.field_info.annotation)
    assert isinstance(field.field_info, params.Param)
    return Param(field, alias, (field.field_info.in_.value, alias), sequence,
                 multi_dict and sequence and not _is_json_field(field))


def _read_params(found: tuple[Param, ...], received: Any, values: dict[str, Any], errors: list[Any]) -> None:
    """``request_params_to_args`` for fields read by one key each: their values into ``values``, their errors
    into ``errors`` (``received``: the path parameters, the query or the headers)."""
    group: dict[str, Any] = {}
    for param in found:
        value = received.getlist(param.alias) if param.every_value else received.get(param.alias, None)
        if value is None or (param.sequence and len(value) == 0):
            value = Undefined
        if value is Undefined:
            value, field_errors = _validate_value_with_model_field(field=param.field, value=value, values=group,
                                                                   loc=param.loc)
        else:
            value, field_errors = param.field.validate(value, group, loc=param.loc)
        if field_errors:
            errors.extend(field_errors)
        else:
            group[param.field.name] = value
    values.update(group)


def _is_json_content_type(content_type: str) -> bool:
    """Whether FastAPI reads a body of this content type as JSON (``application/json`` or ``application/*+json``,
    parsed as FastAPI parses it)."""
    if content_type == "application/json":
        return True
    message = email.message.Message()
    message["content-type"] = content_type
    if message.get_content_maintype() == "application":
        subtype = message.get_content_subtype()
        return subtype == "json" or subtype.endswith("+json")
    return False


@dataclass(frozen=True, slots=True)
class Plan:
    """A route's handler with what FastAPI works out on every request worked out once."""

    call: Callable[..., Awaitable[Any]]
    path: str | None
    request_class: type[Request]
    caller: Callable[..., Awaitable[Any]] | None
    caller_name: str | None
    caller_request_param: str | None
    path_params: tuple[Param, ...]
    query_params: tuple[Param, ...]
    header_params: tuple[Param, ...]
    body_field: ModelField | None
    strict_content_type: bool
    request_param: str | None
    status_code: int | None
    response_class: type[Response]
    default_response_class: bool
    response_field: ModelField | None
    serialization: dict[str, Any]
    json_answer: int | None
    """The status of a model's answer sent as a :class:`JsonAnswer` (None: a ``Response`` is made)."""

    async def handle(self, request: Request) -> Response | JsonAnswer:
        """FastAPI's handler (``fastapi.routing.get_request_handler``) for a route of this plan's shape."""
        body: Any = Undefined
        if self.body_field is not None:
            body = await self._body(request)
        values: dict[str, Any] = {}
        if self.caller is not None:
            solved = await (self.caller(**{self.caller_request_param: request}) if self.caller_request_param
                            else self.caller())
            if self.caller_name is not None:
                values[self.caller_name] = solved
        errors: list[Any] = []
        if self.path_params:
            _read_params(self.path_params, request.scope.get("path_params", {}), values, errors)
        if self.query_params:
            _read_params(self.query_params, request.query_params, values, errors)
        if self.header_params:
            _read_params(self.header_params, request.headers, values, errors)
        if self.body_field is not None:
            field = self.body_field
            if body is Undefined:
                value, body_errors = _validate_value_with_model_field(field=field, value=body, values={},
                                                                      loc=("body",))
            else:
                value, body_errors = field.validate(body, {}, loc=("body",))
            values[field.name] = value
            errors.extend(body_errors)
        if self.request_param is not None:
            values[self.request_param] = request
        if errors:
            raise RequestValidationError(errors, body=None if body is Undefined else body,
                                         endpoint_ctx=self._endpoint_context(request))
        answer = await self.call(**values)
        if isinstance(answer, Response):
            return answer
        return self._response(request, answer)

    async def _body(self, request: Request) -> Any:
        """The request's body as FastAPI's handler reads it: JSON when the content type says so (or none is
        given and the route is not strict), the bytes otherwise, Undefined when empty."""
        try:
            body_bytes = await request.body()
            if not body_bytes:
                return Undefined
            content_type = request.headers.get("content-type")
            if not content_type:
                return body_bytes if self.strict_content_type else await request.json()
            return await request.json() if _is_json_content_type(content_type) else body_bytes
        except json.JSONDecodeError as e:
            raise RequestValidationError(
                [{"type": "json_invalid", "loc": ("body", e.pos), "msg": "JSON decode error", "input": {},
                  "ctx": {"error": e.msg}}],
                body=e.doc, endpoint_ctx=self._endpoint_context(request)) from e
        except HTTPException:
            raise
        except Exception as e:
            if MAX_BODY_SIZE_SCOPE_KEY in request.scope and (error := get_body_limit_error(e)):
                raise error from e
            raise HTTPException(status_code=400, detail="There was an error parsing the body") from e

    def _response(self, request: Request, answer: Any) -> Response | JsonAnswer:
        """The endpoint's answer validated, serialized and made a response as FastAPI's handler does."""
        response_args: dict[str, Any] = {"background": None}
        if self.status_code:
            response_args["status_code"] = self.status_code
        field = self.response_field
        if field is not None:
            value, errors = field.validate(answer, {}, loc=("response",))
            if errors:
                raise ResponseValidationError(errors=errors, body=answer, endpoint_ctx=self._endpoint_context(request))
            if self.default_response_class:
                body = field.serialize_json(value, **self.serialization)
                if self.json_answer:
                    return JsonAnswer(self.json_answer, [(b"content-length", str(len(body)).encode("latin-1")),
                                                         (b"content-type", b"application/json")], body)
                response: Response = Response(content=body, media_type="application/json", **response_args)
            else:
                response = self.response_class(field.serialize(value, **self.serialization), **response_args)
        else:
            response = self.response_class(jsonable_encoder(answer), **response_args)
        if not is_body_allowed_for_status_code(response.status_code):
            response.body = b""
        return response

    def _endpoint_context(self, request: Request) -> EndpointContext:
        """The endpoint's context FastAPI gives its errors (source file, line, function, method and path)."""
        context = _extract_endpoint_context(self.call)
        if self.path:
            mount_path = request.scope.get("root_path", "").rstrip("/")
            context["path"] = f"{request.method} {mount_path}{self.path}"
        return context


class JsonAnswer:
    """A model's answer as FastAPI's handler sends it (``Response(content=<JSON>,
    media_type="application/json")``: the status, ``Content-Length`` then ``Content-Type``, the body; no
    background task), made and sent in fewer steps."""

    __slots__ = ("status_code", "raw_headers", "body")

    def __init__(self, status_code: int, raw_headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.status_code, self.raw_headers, self.body = status_code, raw_headers, body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.body})


def plan_of(route: APIRoute, request_class: type[Request]) -> Plan | None:
    """The plan of ``route``, or None when FastAPI's handler does more for it than a plan does.

    A plan handles a route whose endpoint is a coroutine function (not a stream) and whose parameters are at
    most one sub-dependency (a coroutine callable taking at most the request, such as the caller's scheme),
    path, query and header parameters read by one key each, at most one JSON body parameter (not embedded,
    not a form) and the request itself; answered with the route's response model or class. Anything else
    (cookies, forms, background tasks, a ``Response`` parameter, security scopes, dependencies with ``yield``
    or of their own, a synchronous endpoint...) is FastAPI's to handle.
    """
    dependant = route.dependant
    call = dependant.call
    if call is None or not _is_coroutine_callable(call) or _is_gen_callable(call) or _is_async_gen_callable(call) \
            or route.is_sse_stream or route.is_json_stream or route.stream_item_field is not None \
            or route.form_limits or dependant.cookie_params or dependant.concurrency is not None \
            or dependant.websocket_param_name or dependant.http_connection_param_name \
            or dependant.response_param_name or dependant.background_tasks_param_name \
            or dependant.security_scopes_param_name or len(dependant.dependencies) > 1:
        return None
    caller = caller_name = caller_request_param = None
    if dependant.dependencies:
        sub = dependant.dependencies[0]
        if not _is_plain_sub_dependency(sub):
            return None
        caller, caller_name, caller_request_param = sub.call, sub.name, sub.request_param_name
    found = [tuple(_param(f, multi_dict) for f in fields) for fields, multi_dict in
             ((dependant.path_params, False), (dependant.query_params, True), (dependant.header_params, True))]
    if any(p is None for group in found for p in group):
        return None
    body_field = None
    if dependant.body_params:
        body_params = dependant.body_params
        body_field = body_params[0]
        if len(body_params) != 1 or route._embed_body_fields or _should_embed_body_fields(body_params) \
                or _get_form_models(body_field) or isinstance(body_field.field_info, params.Form) \
                or route.body_field is None or isinstance(route.body_field.field_info, params.Form):
            return None
    response_class = route.response_class
    default_response_class = isinstance(response_class, DefaultPlaceholder)
    strict_content_type = route.strict_content_type
    return Plan(
        call=call, path=dependant.path,
        request_class=request_class if body_field is not None else Request,
        caller=caller, caller_name=caller_name, caller_request_param=caller_request_param,
        path_params=found[0], query_params=found[1], header_params=found[2], body_field=body_field,
        strict_content_type=strict_content_type.value if isinstance(strict_content_type, DefaultPlaceholder)
        else strict_content_type,
        request_param=dependant.request_param_name, status_code=route.status_code,
        response_class=response_class.value if default_response_class else response_class,
        default_response_class=default_response_class, response_field=route.response_field,
        serialization={"include": route.response_model_include, "exclude": route.response_model_exclude,
                       "by_alias": route.response_model_by_alias,
                       "exclude_unset": route.response_model_exclude_unset,
                       "exclude_defaults": route.response_model_exclude_defaults,
                       "exclude_none": route.response_model_exclude_none},
        json_answer=_json_answer_status(route.status_code))


def _json_answer_status(status_code: int | None) -> int | None:
    """The status of the answers that FastAPI makes ``Response(content=<JSON>, media_type="application/json")``
    for: ``status_code`` (200 when not given) if such an answer has its body and ``Content-Length``."""
    status = status_code or 200
    allowed = is_body_allowed_for_status_code(status) and not (status < 200 or status in (204, 304))
    return status if allowed else None


def _is_plain_sub_dependency(sub: Dependant) -> bool:
    """A sub-dependency a plan calls itself: a coroutine callable (no ``yield``) taking at most the request, with
    no dependencies, parameters, scopes or concurrency limit of its own."""
    call = sub.call
    return (call is not None and _is_coroutine_callable(call)
            and not _is_gen_callable(call) and not _is_async_gen_callable(call)
            and not (sub.dependencies or sub.path_params or sub.query_params or sub.header_params
                     or sub.cookie_params or sub.body_params)
            and not (sub.websocket_param_name or sub.http_connection_param_name or sub.response_param_name
                     or sub.background_tasks_param_name or sub.security_scopes_param_name)
            and sub.concurrency is None and sub.scope is None)


def route_app(plan: Plan, general: ASGIApp, overrides_provider: Any) -> ASGIApp:
    """The ASGI application of a route handled by ``plan``; ``general`` (FastAPI's) when dependency overrides
    are set or FastAPI's telemetry observes the request."""
    handle, request_class = plan.handle, plan.request_class

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if (overrides_provider is not None and overrides_provider.dependency_overrides) \
                or _get_request_telemetry() is not None:
            await general(scope, receive, send)
            return
        response = await handle(request_class(scope, receive, send))
        await response(scope, receive, send)

    return app
