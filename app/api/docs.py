"""The OpenAPI document (/api/v1/openapi.json) and a reference page made from it (/api/v1/docs):
our own template, no script, no style attribute, nothing from another host (smorest's ReDoc and
Swagger UI pages load from a CDN: they stay switched off)."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Response, current_app, render_template
from flask.typing import ResponseReturnValue
from markupsafe import Markup, escape

from app.api.clients import CLIENT_SCOPES
from app.api.errors import PROBLEM_STATUSES, problem_details, problem_title
from app.api.oauth import STANDARD_NAME, TOKEN_PATH
from app.permissions import public

bp = Blueprint("api", __name__, url_prefix="/api/v1")

_METHODS = ("get", "post", "put", "patch", "delete")


def code(text: object) -> Markup:
    """`text` set as code inside a translated sentence (templates mark nothing safe themselves)."""
    return Markup("<code>{}</code>").format(text)


_ARGUMENT = re.compile(r"<(?:[^:<>]+:)?(\w+)>")
_GUARD_RESPONSES = {"401": "A valid token is required (missing, unknown, revoked or expired).",
                    "403": "The token lacks the scope, or its owner the right.",
                    "429": "Too many requests for this token this minute: see Retry-After."}


def spec_dict() -> dict[str, Any]:
    """smorest's document, with what `api_token` (app/permissions.py) decides written into it: the
    scope each operation needs, and the 401, 403 and 429 problems every guarded one may answer."""
    api = current_app.extensions["flask-smorest"]["apis"][""]["ext_obj"]
    spec: dict[str, Any] = api.spec.to_dict()
    components = spec.setdefault("components", {}).setdefault("responses", {})
    problem_body = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for status, description in _GUARD_RESPONSES.items():
        components[f"GUARD_{status}"] = {"description": description, "content": problem_body}
    for rule in current_app.url_map.iter_rules():
        access = getattr(current_app.view_functions.get(rule.endpoint), "_access", "")
        if not access.startswith("api:"):
            continue
        scope, *rest = access.removeprefix("api:").split(",")
        for_system_accounts = "person" not in rest and scope in CLIENT_SCOPES
        item = spec.get("paths", {}).get(_ARGUMENT.sub(r"{\1}", rule.rule), {})
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            operation = item.get(method.lower())
            if operation is None:
                continue
            operation["security"] = [{"bearerAuth": [scope]},
                                     *([{"clientCredentials": [scope]}] if for_system_accounts else [])]
            responses = operation.setdefault("responses", {})
            for status in _GUARD_RESPONSES:
                responses.setdefault(status, {"$ref": f"#/components/responses/GUARD_{status}"})
    return spec


@bp.route("/openapi.json")
@public
def openapi_json() -> ResponseReturnValue:
    return Response(json.dumps(spec_dict(), ensure_ascii=False, indent=1), mimetype="application/json")


@dataclass
class Parameter:
    name: str
    where: str
    required: bool
    kind: str
    description: str


@dataclass
class Operation:
    method: str
    path: str
    summary: str
    description: str
    scope: str
    for_system_accounts: bool = False  # a system account's token (OAuth 2 client credentials) works too
    parameters: list[Parameter] = field(default_factory=list)
    responses: list[tuple[str, str, str]] = field(default_factory=list)  # status, description, schema

    @property
    def anchor(self) -> str:
        return f"{self.method}-{self.path}".lower().replace("/", "-").replace("{", "").replace("}", "").strip("-")


@dataclass
class Property:
    name: str
    kind: str
    required: bool
    description: str


def _kind(schema: dict[str, Any]) -> str:
    """A short human name of a JSON schema: "integer", "string (date-time)", "list of Course"..."""
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if schema.get("type") == "array":
        return "list of " + _kind(schema.get("items", {}))
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = " or ".join(str(k) for k in kind)
    if "format" in schema:
        kind = f"{kind} ({schema['format']})"
    return str(kind)


def _response_schema(response: dict[str, Any], components: dict[str, Any]) -> tuple[str, str]:
    if "$ref" in response:
        response = components.get("responses", {}).get(response["$ref"].rsplit("/", 1)[-1], {})
    content = response.get("content", {})
    for media_type, body in content.items():
        return response.get("description", ""), f"{_kind(body.get('schema', {}))} — {media_type}"
    return response.get("description", ""), ""


def operations(spec: dict[str, Any]) -> list[Operation]:
    components = spec.get("components", {})
    found = []
    for path, item in spec.get("paths", {}).items():
        for method in _METHODS:
            op = item.get(method)
            if op is None:
                continue
            scopes = [scope for requirement in op.get("security", spec.get("security", [])) for scope in
                      requirement.get("bearerAuth", [])]
            requirements = op.get("security", spec.get("security", []))
            operation = Operation(method.upper(), path, op.get("summary", ""), op.get("description", ""),
                                  ", ".join(scopes), any("clientCredentials" in r for r in requirements))
            for parameter in [*item.get("parameters", []), *op.get("parameters", [])]:
                operation.parameters.append(Parameter(parameter["name"], parameter["in"],
                                                      bool(parameter.get("required")),
                                                      _kind(parameter.get("schema", {})),
                                                      parameter.get("description", "")))
            for status, response in op.get("responses", {}).items():
                description, schema = _response_schema(response, components)
                operation.responses.append((status, description, schema))
            found.append(operation)
    return found


def schemas(spec: dict[str, Any]) -> dict[str, list[Property]]:
    found = {}
    for name, schema in spec.get("components", {}).get("schemas", {}).items():
        required = set(schema.get("required", []))
        found[name] = [Property(prop, _kind(body), prop in required, body.get("description", ""))
                       for prop, body in schema.get("properties", {}).items()]
    return found


@bp.route("/docs")
@public
def docs() -> ResponseReturnValue:
    spec = spec_dict()
    details = problem_details(lambda name: f"\ue000{name}\ue001")  # marked, then set as <code> once escaped
    problems = [(status, problem_title(status),
                 Markup(str(escape(details[status])).replace("\ue000", "<code>").replace("\ue001", "</code>")))
                for status in PROBLEM_STATUSES]
    return render_template("api/docs.html", spec=spec, operations=operations(spec), schemas=schemas(spec),
                           problems=problems, code=code, token_path=TOKEN_PATH, oauth_standard=STANDARD_NAME)
