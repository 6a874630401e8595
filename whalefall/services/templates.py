"""Templates (SPEC §7): the catalogue, and jobs made from it.

A template is a built-in task the registry marks as one; a job made from it is a ``builtin`` job
of that task whose ``params`` are data the task's model checks — never text pasted into code or a
shell line. The job remembers its template. Instances its params name are checked with every
job's (``services.param_instances``).
"""

from __future__ import annotations

from typing import Any

from whalefall.domain.templatespec import TemplateJobCreate
from whalefall.errors import TemplateNotFound
from whalefall.i18n import catalogue
from whalefall.models import Job
from whalefall.runtime import Runtime
from whalefall.services import jobs as job_service
from whalefall.services.audit import Actor


def task_of(runtime: Runtime, template_id: str) -> str:
    """The built-in task a template runs; raises :class:`TemplateNotFound`."""
    if template_id not in runtime.tasks.templates():
        raise TemplateNotFound(template_id)
    return template_id


def _words(key: str, lang: str) -> str:
    return catalogue.text("task", key, lang) if key in catalogue.keys("task") else ""


def field_words(name: str, lang: str) -> str:
    """A parameter's label in ``lang`` (the catalogue's field words), or its name."""
    return catalogue.text("field", name, lang) if name in catalogue.keys("field") else name


def describe(runtime: Runtime, template_id: str, lang: str) -> dict[str, Any]:
    """One template as the catalogue gives it: id, name, description, the task, the JSON Schema.

    ``fields`` labels each parameter in ``lang`` (the console's form uses them).
    Raises :class:`TemplateNotFound`.
    """
    task = task_of(runtime, template_id)
    schema = runtime.tasks.params_schema(task)
    return {
        "id": template_id,
        "task": task,
        "name": _words(f"template.{template_id}", lang) or template_id,
        "description": _words(f"template.{template_id}.description", lang),
        "fields": {name: field_words(name, lang) for name in schema.get("properties", {})},
        "schema": schema,
    }


def listing(runtime: Runtime, lang: str) -> list[dict[str, Any]]:
    return [describe(runtime, template_id, lang) for template_id in runtime.tasks.templates()]


def create_job(runtime: Runtime, template_id: str, data: TemplateJobCreate, actor: Actor) -> Job:
    """A job from a template: its task, the params checked by the task's model, the template kept.

    Raises TemplateNotFound (404), pydantic's ``ValidationError`` naming each bad or missing
    ``params.<field>`` (400), and whatever :func:`services.jobs.create` raises (InvalidInput
    for an instance that is unknown or of another engine among them).
    """
    task = task_of(runtime, template_id)
    params = job_service.checked_params(runtime, task, data.params)
    job_data = data.model_copy(update={"function": task, "params": params})
    return job_service.create(runtime, job_data, actor, template=template_id)
