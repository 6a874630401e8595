"""The OpenAPI 3 document, generated from the same pydantic models that validate requests."""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

from flask import jsonify
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from whalefall.api import PREFIX, bp
from whalefall.api.fleet_schemas import (
    AccountChangeQuery,
    AccountListQuery,
    CapacityQuery,
    DatabaseListQuery,
    FleetRiskQuery,
    ForecastQuery,
    InstanceListQuery,
    RiskQuery,
    SyncSessionQuery,
    TableListQuery,
)
from whalefall.api.schemas import (
    BulkAction,
    CodeCheck,
    CronPreview,
    ForceFlag,
    GroupAction,
    ImportBody,
    VersionRestore,
)
from whalefall.domain.base import MAX_BIGINT, MAX_INT
from whalefall.domain.instancespec import ConnectionCheck, InstanceCreate, InstancePatch
from whalefall.domain.jobspec import JobCreate, JobPatch
from whalefall.domain.templatespec import TemplateJobCreate
from whalefall.web.queries import (
    AuditQuery,
    ForceQuery,
    ImportQuery,
    JobListQuery,
    RunListQuery,
    VersionDiffQuery,
)

# Every act on a job whose kind is not builtin is an admin's (services.jobs.require_may_act).
CODE_ADMIN = "operator (admin for code and shell jobs: every kind but builtin)"
# (method, path, role or None, summary, body model, query model)
ROUTES: list[tuple[str, str, str | None, str, type[BaseModel] | None, type[BaseModel] | None]] = [
    ("get", "/jobs", "viewer", "List jobs", None, JobListQuery),
    (
        "post",
        "/jobs",
        CODE_ADMIN,
        "Create a job: `function` (builtin), `code` (Python) or `command`/`script` (shell)",
        JobCreate,
        None,
    ),
    (
        "get",
        "/jobs/{job_id}",
        "viewer",
        "One job, with its code and last run (?upcoming=1 adds 5 next runs); a shell job "
        "(kind `shell`) also has shell_mode (`argv` or `script`), command, script, working_dir, env",
        None,
        None,
    ),
    ("put", "/jobs/{job_id}", CODE_ADMIN, "Change the fields given", JobPatch, None),
    ("delete", "/jobs/{job_id}", CODE_ADMIN, "Delete a job (its runs are kept)", None, None),
    (
        "post",
        "/jobs/{job_id}/pause",
        CODE_ADMIN,
        "Pause a job; 409 naming the active jobs that depend on it, unless `force`",
        ForceFlag,
        ForceQuery,
    ),
    ("post", "/jobs/{job_id}/resume", CODE_ADMIN, "Resume a job", None, None),
    ("post", "/jobs/{job_id}/run", CODE_ADMIN, "Start a run now, asynchronously; returns run_id", None, None),
    ("get", "/jobs/{job_id}/runs", "viewer", "A job's runs, newest first", None, RunListQuery),
    (
        "get",
        "/jobs/{job_id}/versions",
        "viewer",
        "Every version of a code or shell job's source, newest first (who, when, note)",
        None,
        None,
    ),
    ("get", "/jobs/{job_id}/versions/{number}", "viewer", "One version with its source", None, None),
    (
        "get",
        "/jobs/{job_id}/versions/diff",
        "viewer",
        "A unified diff between two versions (default: the current one and the one before)",
        None,
        VersionDiffQuery,
    ),
    (
        "post",
        "/jobs/{job_id}/versions/{number}/restore",
        "admin",
        "Make a version the current source again (itself a new version)",
        VersionRestore,
        None,
    ),
    ("get", "/runs", "viewer", "All runs, newest first", None, RunListQuery),
    ("get", "/runs/{run_id}", "viewer", "One run with its log (?offset= to follow)", None, None),
    ("post", "/runs/{run_id}/cancel", CODE_ADMIN, "Cancel a queued or running run", None, None),
    (
        "post",
        "/groups/{category}/{action}",
        CODE_ADMIN,
        "`pause`, `resume` or `run` every job of a category, each as its single action would; "
        "answers what changed and what was skipped and why",
        GroupAction,
        None,
    ),
    (
        "post",
        "/bulk/{action}",
        CODE_ADMIN,
        "pause, resume, run or delete the jobs of `ids`, each as its single action would; "
        "answers what changed and what was skipped and why",
        BulkAction,
        None,
    ),
    ("get", "/export/jobs", "operator", "Every job (code included) as a YAML download", None, None),
    (
        "post",
        "/import/jobs",
        CODE_ADMIN,
        "Create or update jobs from an export (JSON, or YAML as application/yaml), all or nothing; "
        "answers what it created, changed and left unchanged (`dry_run`: keeps nothing)",
        ImportBody,
        ImportQuery,
    ),
    ("post", "/cron/preview", "viewer", "Describe a trigger and list its next run times", CronPreview, None),
    ("post", "/code/check", "operator", "Check a code job's source", CodeCheck, None),
    ("get", "/tasks", "viewer", "The built-in task catalogue", None, None),
    (
        "get",
        "/templates",
        "viewer",
        "The template catalogue: each template's name, description and JSON Schema of its params",
        None,
        None,
    ),
    ("get", "/templates/{template_id}", "viewer", "One template of the catalogue", None, None),
    (
        "post",
        "/templates/{template_id}/jobs",
        "operator",
        "Create a job from a template: the job's fields and `params` (checked by the template's schema)",
        TemplateJobCreate,
        None,
    ),
    (
        "get",
        "/runs/{run_id}/result.csv",
        "viewer",
        "A query run's whole result as CSV (`sql_query` template)",
        None,
        None,
    ),
    ("get", "/health", None, "200 while a scheduler runs (healthy or warning), 503 otherwise", None, None),
    ("get", "/stats", "viewer", "Job counts, runs by status over 24 h, next executions", None, None),
    (
        "get",
        "/overview",
        "viewer",
        "The overview page's data: health, runs over 24 h and 7 days, running, failures, next runs, "
        "open windows, last alert deliveries",
        None,
        None,
    ),
    ("get", "/audit", "admin", "The audit log", None, AuditQuery),
    ("get", "/openapi.json", None, "This document", None, None),
    # The database fleet (SPEC §10)
    (
        "get",
        "/instances",
        "viewer",
        "List instances with their connection status, account count and size",
        None,
        InstanceListQuery,
    ),
    (
        "post",
        "/instances",
        "admin",
        "Register an instance (the password is stored encrypted, never returned)",
        InstanceCreate,
        None,
    ),
    (
        "post",
        "/instances/test",
        "admin",
        "Try connection fields before saving them (audited; with instance_id, a new host, port, "
        "engine or username needs `password` again)",
        ConnectionCheck,
        None,
    ),
    ("get", "/instances/{instance_id}", "viewer", "One instance", None, None),
    (
        "put",
        "/instances/{instance_id}",
        "admin",
        "Change the fields given (is_active=false deactivates; a new host, port, engine or username "
        "needs `password` again)",
        InstancePatch,
        None,
    ),
    (
        "delete",
        "/instances/{instance_id}",
        "admin",
        "Delete an instance with its accounts and sizes",
        None,
        None,
    ),
    (
        "post",
        "/instances/{instance_id}/test",
        "operator",
        "Connect and report the server version, or the driver's error in words",
        None,
        None,
    ),
    (
        "get",
        "/instances/{instance_id}/accounts",
        "viewer",
        "Current accounts with privileges and flags (?format=csv: every match as CSV, with GRANT statements)",
        None,
        AccountListQuery,
    ),
    (
        "get",
        "/instances/{instance_id}/account-changes",
        "viewer",
        "Accounts added, changed (with a diff), removed",
        None,
        AccountChangeQuery,
    ),
    (
        "get",
        "/instances/{instance_id}/databases",
        "viewer",
        "Database inventory with the latest size",
        None,
        DatabaseListQuery,
    ),
    (
        "get",
        "/instances/{instance_id}/tables",
        "viewer",
        "The largest tables per database at the latest collection: rows, data, index, growth",
        None,
        TableListQuery,
    ),
    (
        "post",
        "/instances/test-all",
        "operator",
        "Test every active instance's connection and read its version, uptime and role",
        None,
        None,
    ),
    (
        "get",
        "/capacity",
        "viewer",
        "Size series per instance or database, largest and fastest-growing databases "
        "(?format=csv: the series as CSV)",
        None,
        CapacityQuery,
    ),
    (
        "get",
        "/capacity/forecast",
        "viewer",
        "Growth per day, week and month and the days until the disk is full, per instance",
        None,
        ForecastQuery,
    ),
    (
        "get",
        "/instances/{instance_id}/risks",
        "viewer",
        "Account risk report of one instance: each risk's kind, severity and words (?format=csv)",
        None,
        RiskQuery,
    ),
    (
        "get",
        "/account-risks",
        "viewer",
        "Account risk report of the whole fleet (?instance_id= for one; ?format=csv)",
        None,
        FleetRiskQuery,
    ),
    ("get", "/sync-sessions", "viewer", "Sessions of the fleet tasks", None, SyncSessionQuery),
    ("get", "/sync-sessions/{session_id}", "viewer", "One session with its per-instance rows", None, None),
    (
        "get",
        "/partitions",
        "viewer",
        "Partition status of the size tables (PostgreSQL) and the last check",
        None,
        None,
    ),
]

# Path ids and the largest each may be (the column's range; past it the route answers 404).
INTEGER_PARAMETERS = {
    "{run_id}": MAX_BIGINT,
    "{session_id}": MAX_BIGINT,
    "{instance_id}": MAX_INT,
    "{token_id}": MAX_INT,
    "{channel_id}": MAX_INT,
    "{window_id}": MAX_INT,
    "{number}": MAX_INT,
}

# A body that works, per schema: for readers of the document, and for generated tests, which
# vary one field of it at a time and so reach past the first check of a request.
EXAMPLES: dict[str, dict[str, Any]] = {
    "JobCreate": {
        "id": "nightly_cleanup",
        "name": "Nightly cleanup",
        "category": "maintenance",
        "trigger_type": "cron",
        "cron_hour": "2",
        "cron_minute": "0",
        "function": "cleanup_old_logs",
        "params": {"run_days": 30},
    },
    "JobPatch": {"description": "keeps a month of runs", "params": {"run_days": 30}},
    "TemplateJobCreate": {
        "id": "site_up",
        "name": "Site up",
        "category": "monitoring",
        "trigger_type": "interval",
        "interval_minutes": 5,
        "params": {"url": "http://127.0.0.1:9/health", "expected_status": 200},
    },
    "CronPreview": {"trigger_type": "cron", "cron_expression": "0 2 * * 1-5", "count": 5},
    "CodeCheck": {"code": "def execute_task():\n    return 'ok'\n"},
    "GroupAction": {"force": False},
    "BulkAction": {"ids": ["nightly_cleanup"], "force": False},
    "ForceFlag": {"force": True},
    "ImportBody": {
        "jobs": [
            {
                "id": "nightly_cleanup",
                "name": "Nightly cleanup",
                "function": "heartbeat",
                "trigger_type": "interval",
                "interval_minutes": 5,
            }
        ]
    },
    "UserCreate": {"username": "dba_on_call", "password": "a-long-passphrase-1", "role": "operator"},
    "UserPatch": {"role": "viewer"},
    "TokenCreate": {"username": "admin", "label": "backup script"},
    "ChannelCreate": {"name": "ops_hook", "url": "json://127.0.0.1:9/alerts", "enabled": False},
    "ChannelPatch": {"description": "the on-call webhook"},
    "GlobalPolicy": {"events": ["failure", "timeout"], "throttle_seconds": 600},
    "WindowCreate": {
        "name": "friday_release",
        "starts_at": "2030-01-04 18:00:00",
        "ends_at": "2030-01-04 20:00:00",
        "scope": "category",
        "scope_values": ["maintenance"],
    },
    "WindowPatch": {"description": "the weekly release"},
    "InstanceCreate": {
        "name": "orders_primary",
        "db_type": "postgresql",
        "host": "127.0.0.1",
        "port": 5432,
        "username": "monitor",
        "password": "secret",
        "tags": ["orders"],
    },
    "InstancePatch": {"description": "the orders database"},
}

ENVELOPE = {
    "type": "object",
    "required": ["success", "message"],
    "properties": {
        "success": {"type": "boolean"},
        "data": {},
        "message": {"type": "string"},
        "code": {"type": "integer", "description": "the HTTP status, on errors"},
        "errors": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "field name → what was wrong",
        },
    },
}


def _parameters(path: str, model: type[BaseModel] | None) -> list[dict[str, Any]]:
    params = [
        {
            "name": part[1:-1],
            "in": "path",
            "required": True,
            "schema": (
                {"type": "integer", "minimum": 1, "maximum": INTEGER_PARAMETERS[part]}
                if part in INTEGER_PARAMETERS
                else {"type": "string", "minLength": 1}
            ),
        }
        for part in path.split("/")
        if part.startswith("{")
    ]
    if model is not None:
        for name, field in model.model_fields.items():
            name = field.alias or name  # ``from`` is a keyword in Python: the field is ``from_``
            params.append(
                {
                    "name": name,
                    "in": "query",
                    "required": False,
                    "description": field.description or "",
                    "schema": model.model_json_schema()["properties"][name],
                }
            )
    return params


def document() -> dict[str, Any]:
    bodies = sorted({r[4] for r in ROUTES if r[4] is not None}, key=lambda m: m.__name__)
    _, schemas = models_json_schema(
        [(m, "validation") for m in bodies], ref_template="#/components/schemas/{model}"
    )
    components = {"Envelope": ENVELOPE, **schemas.get("$defs", {})}
    for name, example in EXAMPLES.items():
        if name in components:
            components[name] = {**components[name], "examples": [example]}
    paths: dict[str, dict[str, Any]] = {}
    for method, path, role, summary, body, query_model in ROUTES:
        op: dict[str, Any] = {
            "summary": summary,
            "description": f"Role: {role}" if role else "No sign-in needed",
            "parameters": _parameters(path, query_model),
            "responses": {
                str(code): {
                    "description": text,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Envelope"}}},
                }
                for code, text in [
                    (200, "success"),
                    (400, "bad input; `errors` names the field"),
                    (401, "not signed in"),
                    (403, "not allowed"),
                    (404, "unknown id"),
                    (409, "conflict"),
                    (413, "body over 1 MiB"),
                    (429, "too many attempts"),
                    (503, "scheduler not running"),
                ]
            },
        }
        if query_model is not None and "format" in query_model.model_fields:  # ?format=csv
            op["responses"]["200"]["content"]["text/csv"] = {"schema": {"type": "string"}}
        if role is None:
            op["security"] = []
        if body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": f"#/components/schemas/{body.__name__}"}}
                },
            }
        paths.setdefault(PREFIX + path, {})[method] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Whalefall scheduler API",
            "version": version("whalefall"),
            "description": "Every response is the envelope {success, data, message} or "
            "{success: false, message, code, errors}.",
        },
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "a token from `whalefall token create`",
                },
                "session": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "whalefall_session",
                    "description": "the console's session; send X-CSRFToken on writes",
                },
            },
        },
        "security": [{"bearer": []}, {"session": []}],
        "paths": paths,
    }


@bp.get("/openapi.json")
def openapi_json():
    return jsonify(document())
