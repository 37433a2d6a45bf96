from django.tasks import task

from shequ.core import jobs


@task(queue_name="default")
def run_job(job_id: int) -> None:
    jobs.run(job_id)
