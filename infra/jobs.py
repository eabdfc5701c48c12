"""Functions that no route serves (routes.JOBS): scheduled jobs and asynchronously invoked workers."""
from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_sqs as sqs
from constructs import Construct
from incentives.http.routes import JOBS

from .lambda_factory import LambdaFactory, camel, fixed_function_name
from .queues import dead_letter_queue

# A scheduled job should finish before its next tick; an async worker runs as long as Lambda allows and
# continues itself (bulk_codes re-invokes with its progress).
SCHEDULED_TIMEOUT = Duration.seconds(60)
WORKER_TIMEOUT = Duration.minutes(15)


def _first_job_of_folder() -> dict[str, str]:
    """folder -> the name of its function: the job's own name, or the folder's when several jobs share one
    function (the journeys)."""
    out: dict[str, str] = {}
    for job, (folder, _) in JOBS.items():
        out[folder] = folder if folder in out else job
    return out


def job_function_names(stack_name: str) -> dict[str, str]:
    """JOB_FUNCTIONS: {job name: deployed function name} (jobs of one folder share its function, named after the
    folder)."""
    first = _first_job_of_folder()
    return {job: fixed_function_name(stack_name, first[folder]) for job, (folder, _) in JOBS.items()}


class Jobs(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        factory: LambdaFactory,
        environment: dict[str, dict[str, str]],
    ) -> None:
        super().__init__(scope, construct_id)
        stack_name = Stack.of(self).stack_name
        self.functions: dict[str, lambda_.Function] = {}  # by folder
        self.failure_queues: dict[str, sqs.Queue] = {}  # by folder
        first = _first_job_of_folder()
        for job, (folder, schedule) in JOBS.items():
            shared = sum(1 for f, _ in JOBS.values() if f == folder) > 1
            fn = self.functions.get(folder)
            if fn is None:
                fn = factory.create(
                    folder,
                    function_name=fixed_function_name(stack_name, first[folder]),
                    timeout=SCHEDULED_TIMEOUT if schedule else WORKER_TIMEOUT,
                    memory_size=512 if schedule else 1024,
                    environment=environment.get(folder),
                    description=f"incentives job {folder if shared else job}",
                )
                self.functions[folder] = fn
                if schedule and shared:
                    # journeys: a run that fails for good (its payload names the job and moment) is kept
                    # for a redrive, and alarmed (monitoring.py) together with the failed-sends metric
                    queue = dead_letter_queue(
                        self, f"{camel(folder)}Failures",
                        holds=f"the on-failure destination of the {folder} function's scheduled runs",
                    )
                    fn.configure_async_invoke(on_failure=destinations.SqsDestination(queue), retry_attempts=0)
                    self.failure_queues[folder] = queue
                elif schedule:
                    fn.configure_async_invoke(retry_attempts=0)  # the next tick is the retry
            if schedule:
                # a function serving several jobs learns which one from the rule's input
                target_input = events.RuleTargetInput.from_object({"job": job}) if shared else None
                events.Rule(
                    self,
                    f"{camel(job.replace('-', '_'))}Schedule" if shared else f"{camel(folder)}Schedule",
                    description=f"runs the {job} job",
                    schedule=events.Schedule.expression(schedule),
                    targets=[targets.LambdaFunction(fn, retry_attempts=2, max_event_age=Duration.minutes(2),
                                                    event=target_input)],
                )
            else:
                # Asynchronous invocations that still fail after Lambda's retries land here (alarmed).
                queue = dead_letter_queue(
                    self, f"{camel(folder)}Failures",
                    holds=f"the on-failure destination of the {folder} function's asynchronous invocations",
                )
                fn.configure_async_invoke(
                    on_failure=destinations.SqsDestination(queue),
                    retry_attempts=2,
                    max_event_age=Duration.hours(6),
                )
                self.failure_queues[folder] = queue
