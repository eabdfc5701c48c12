"""Million-code bulk runs and whole-campaign exports in the synthesized template: the worker queue (encrypted, TLS
only, a dead-letter queue after WORKER_MAX_RECEIVES deliveries, alarmed), the worker's event source mapping (one
message at a time, maximum concurrency, batch item failures), the export bucket (encrypted, private, TLS only,
expiring), and least privilege for the planner, the workers, the export job and the operators function."""
from __future__ import annotations

from incentives.services.issuance import WORKER_MAX_RECEIVES, WORKER_TIMEOUT_S

from infra.bulk import BULK_WORKERS, EXPORT_DAYS
from tests.infra.test_stack import _actions, _assert_encrypted_alarmed_queue, _async_failure_queue


def _work_queue(synth) -> tuple[str, dict]:
    (found,) = [(k, q["Properties"]) for k, q in synth.of_type("AWS::SQS::Queue").items()
                if "RedrivePolicy" in q["Properties"]]
    return found


def _bucket(synth) -> tuple[str, dict]:
    (found,) = synth.of_type("AWS::S3::Bucket").items()
    return found[0], found[1]["Properties"]


def _policy_of(synth, cfn_type: str, target_id: str) -> list[dict]:
    key = "Queues" if cfn_type == "AWS::SQS::QueuePolicy" else "Bucket"
    out = []
    for p in synth.of_type(cfn_type).values():
        ref = p["Properties"][key]
        refs = ref if isinstance(ref, list) else [ref]
        if {"Ref": target_id} in refs:
            out += p["Properties"]["PolicyDocument"]["Statement"]
    return out


def test_the_work_queue_is_encrypted_tls_only_and_dead_letters_after_the_last_delivery(synth):
    queue_id, queue = _work_queue(synth)
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["VisibilityTimeout"] >= 6 * WORKER_TIMEOUT_S  # AWS's advice for an SQS event source
    assert queue["RedrivePolicy"]["maxReceiveCount"] == WORKER_MAX_RECEIVES
    dlq_id = queue["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
    _assert_encrypted_alarmed_queue(synth, dlq_id)
    denies = [s for s in _policy_of(synth, "AWS::SQS::QueuePolicy", queue_id) if s["Effect"] == "Deny"]
    assert any(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in denies)


def test_the_worker_reads_the_queue_one_slice_at_a_time_with_a_maximum_concurrency(synth):
    queue_id, _ = _work_queue(synth)
    logical_id, worker = synth.functions()["bulk_codes_worker"]
    (mapping,) = [m["Properties"] for m in synth.of_type("AWS::Lambda::EventSourceMapping").values()
                  if m["Properties"]["EventSourceArn"] == {"Fn::GetAtt": [queue_id, "Arn"]}]
    assert mapping["FunctionName"] == {"Ref": logical_id}
    assert mapping["BatchSize"] == 1
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": BULK_WORKERS}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert worker["Timeout"] == WORKER_TIMEOUT_S
    # the worker consumes the queue and nothing else of SQS; it never sends
    sqs_actions = {a for a in _actions(synth, "bulk_codes_worker") if a.startswith("sqs:")}
    assert "sqs:SendMessage" not in sqs_actions and "sqs:ReceiveMessage" in sqs_actions
    assert all(arn == f"${{{queue_id}.Arn}}" for a in sqs_actions for arn in _actions(synth, "bulk_codes_worker")[a])


def test_only_the_planner_sends_to_the_work_queue_and_it_sends_nothing_else(synth):
    queue_id, _ = _work_queue(synth)
    senders = {folder for folder in synth.functions() if "sqs:SendMessage" in _actions(synth, folder)
               and f"${{{queue_id}.Arn}}" in _actions(synth, folder)["sqs:SendMessage"]}
    assert senders == {"bulk_codes"}
    planner = _actions(synth, "bulk_codes")
    # the work queue, and its own on-failure destination (Lambda's async invocation sends there with its role)
    assert sorted(planner["sqs:SendMessage"]) == sorted([f"${{{queue_id}.Arn}}",
                                                         f"${{{_async_failure_queue(synth, 'bulk_codes')}.Arn}}"])
    assert not [a for a in planner if a.startswith(("s3:", "lambda:"))]
    _, props = synth.functions()["bulk_codes"]
    assert props["Environment"]["Variables"]["BULK_QUEUE_URL"] == {"Ref": queue_id}


def test_the_export_bucket_is_encrypted_private_tls_only_and_expires_its_files(synth):
    bucket_id, bucket = _bucket(synth)
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
    assert bucket["PublicAccessBlockConfiguration"] == {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                                        "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
    (rule,) = bucket["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled" and rule["ExpirationInDays"] == EXPORT_DAYS
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    denies = [s for s in _policy_of(synth, "AWS::S3::BucketPolicy", bucket_id) if s["Effect"] == "Deny"]
    assert any(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in denies)


def test_the_export_job_only_writes_export_objects_and_the_operators_function_only_reads_them(synth):
    bucket_id, _ = _bucket(synth)
    objects = f"${{{bucket_id}.Arn}}/exports/*"
    s3_rights = {folder: {a: arns for a, arns in _actions(synth, folder).items() if a.startswith("s3:")}
                 for folder in synth.functions()}
    assert {folder for folder, rights in s3_rights.items() if rights} == {"code_exports", "operators"}
    assert s3_rights["code_exports"] == {"s3:PutObject": [objects]}
    assert s3_rights["operators"] == {"s3:GetObject": [objects]}  # what its pre-signed GET links need
    for folder in ("code_exports", "operators"):
        _, props = synth.functions()[folder]
        assert props["Environment"]["Variables"]["EXPORT_BUCKET"] == {"Ref": bucket_id}
