"""Long work with progress (ARCHITECTURE §4): a `Job` row a page can poll, run by a task.

    job = start_job("registry.import", actor=user, params={...}, input_file=upload)
    # ... after commit the task runs the runner registered for the kind:
    @job_runner("registry.import")
    def run(job: Job, progress: Progress) -> dict: ...   # returns the report

Progress is written in its own short statements, outside any long transaction, so another
connection sees it while the work goes on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from django.core.files.base import File
from django.db import transaction
from django.utils import timezone

from shequ.core.audit import audit
from shequ.core.models import Job

log = logging.getLogger(__name__)
Runner = Callable[[Job, "Progress"], dict[str, Any]]
_runners: dict[str, Runner] = {}


def job_runner(kind: str) -> Callable[[Runner], Runner]:
    def register(fn: Runner) -> Runner:
        _runners[kind] = fn
        return fn

    return register


class Progress:
    """Reports progress of a job, at most a few times a second."""

    def __init__(self, job: Job, *, min_interval: float = 0.3) -> None:
        self.job = job
        self.min_interval = min_interval
        self._last = 0.0

    def __call__(
        self, done: int, total: int | None = None, message: str | None = None, *, force: bool = False
    ) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.min_interval:
            return
        self._last = now
        fields: dict[str, Any] = {"done": done}
        if total is not None:
            fields["total"] = total
        if message is not None:
            fields["message"] = message[:300]
        Job.objects.filter(pk=self.job.pk).update(**fields, updated_at=timezone.now())


@transaction.atomic
def start_job(
    kind: str, *, actor: Any, params: dict[str, Any] | None = None, input_file: File | None = None
) -> Job:
    """Record a job and enqueue it after commit."""
    if kind not in _runners:
        raise ValueError(f"no runner registered for job kind {kind!r}")
    job = Job(
        kind=kind,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
        params=params or {},
    )
    if input_file is not None:
        job.input_file.save(input_file.name or "upload", input_file, save=False)
    job.save()
    audit("job.start", actor=actor, target=job, kind=kind)
    from shequ.core.tasks import run_job

    transaction.on_commit(lambda: run_job.enqueue(job.pk))
    return job


def run(job_id: int) -> None:
    """Run a job to completion. Idempotent: a job that already ran is left alone."""
    claimed = Job.objects.filter(pk=job_id, status=Job.Status.QUEUED).update(
        status=Job.Status.RUNNING, updated_at=timezone.now()
    )
    if not claimed:
        return
    job = Job.objects.get(pk=job_id)
    progress = Progress(job)
    try:
        report = _runners[job.kind](job, progress)
    except Exception as exc:
        log.exception("job %s failed", job_id)
        Job.objects.filter(pk=job_id).update(
            status=Job.Status.FAILED,
            message=f"内部错误: {type(exc).__name__}"[:300],
            finished_at=timezone.now(),
        )
        return
    job.refresh_from_db()
    failed = bool(report.get("errors"))
    Job.objects.filter(pk=job_id).update(
        status=Job.Status.FAILED if failed else Job.Status.SUCCEEDED,
        report=report,
        done=job.total if not failed else job.done,
        message=str(report.get("message", ""))[:300],
        finished_at=timezone.now(),
    )
