"""Background work of the registry: the import job (core.jobs runs it as a django.tasks task)."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from shequ.core.jobs import Progress, job_runner
from shequ.core.models import Job
from shequ.registry.imports import KINDS, MODES, import_file


@job_runner("registry.import")
def run_import(job: Job, progress: Progress) -> dict[str, Any]:
    """Import the job's uploaded sheet. params: kind, mode (upsert|create_only), filename."""
    params = job.params
    kind, mode = params.get("kind"), params.get("mode", "upsert")
    if kind not in KINDS or mode not in MODES:
        message = f"无效的导入参数: kind={kind!r}, mode={mode!r}"
        job.input_file.delete(save=False)
        return {"errors": [{"row": None, "column": "", "value": "", "message": message}], "message": message}
    try:
        with job.input_file.open("rb") as f:
            data = f.read(settings.IMPORT_MAX_BYTES + 1)  # one byte over is enough to refuse it
        report = import_file(
            kind,
            data,
            str(params.get("filename") or job.input_file.name),
            actor=job.created_by or "system",
            mode=mode,
            progress=progress,
            job_id=job.pk,
        )
    finally:
        # The upload holds ID numbers in the clear: keep it no longer than the import needs it.
        job.input_file.delete(save=False)
    return report.as_dict()
