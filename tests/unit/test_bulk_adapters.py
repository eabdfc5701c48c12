"""The deployed ports of bulk runs and exports against moto (SQS and S3 only; never DynamoDB): the work queue
sends every slice in batches of 10, the export files are kept under exports/ and handed out as a pre-signed GET
link that fetches the file."""
from __future__ import annotations

import json
import os
from urllib.parse import parse_qs, urlparse

import pytest

moto = pytest.importorskip("moto")


@pytest.fixture
def aws(monkeypatch):
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
                 "AWS_DEFAULT_REGION": "eu-central-1"}.items():
        monkeypatch.setenv(k, v)
    with moto.mock_aws():
        yield


def test_the_sqs_work_queue_sends_every_slice_once_in_batches_of_ten(aws):
    import botocore.session

    from incentives.adapters.work_queue import SqsWorkQueue

    sqs = botocore.session.get_session().create_client("sqs")
    url = sqs.create_queue(QueueName="work")["QueueUrl"]
    queue = SqsWorkQueue(url)
    sent = []
    real = queue.client.send_message_batch
    queue.client.send_message_batch = lambda **kw: sent.append(len(kw["Entries"])) or real(**kw)
    slices = [{"job_id": "job_1", "first_chunk": n, "end_chunk": n + 10} for n in range(0, 230, 10)]
    queue.send(slices)
    assert sent == [10, 10, 3]
    got = []
    while True:
        r = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
        if not r.get("Messages"):
            break
        got += [json.loads(m["Body"]) for m in r["Messages"]]
        for m in r["Messages"]:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    assert sorted(got, key=lambda m: m["first_chunk"]) == slices


class _Refusing:
    """An SQS client that refuses the entries named in ``refuse`` on their first ``times`` sends."""

    def __init__(self, refuse: set[str], times: int):
        self.refuse, self.times, self.calls = refuse, times, []

    def send_message_batch(self, QueueUrl, Entries):
        self.calls.append([e["Id"] for e in Entries])
        failed = [{"Id": e["Id"], "SenderFault": False, "Code": "InternalError"} for e in Entries
                  if e["Id"] in self.refuse and len(self.calls) <= self.times]
        return {"Failed": failed, "Successful": []}


def test_slices_sqs_refused_are_sent_again_once_and_a_second_refusal_fails_the_planner(monkeypatch):
    from incentives.adapters import work_queue
    from incentives.adapters.work_queue import SqsWorkQueue

    monkeypatch.setattr(work_queue, "SEND_RETRY", work_queue.SEND_RETRY.__class__(
        deadline_s=5.0, max_attempts=2, sleep=lambda s: None))
    queue = SqsWorkQueue("https://sqs.local/work")
    queue._client = _Refusing({"1", "3"}, times=1)
    queue.send([{"n": n} for n in range(5)])
    assert queue._client.calls == [["0", "1", "2", "3", "4"], ["1", "3"]]  # only the refused ones, once more

    queue._client = _Refusing({"2"}, times=2)
    with pytest.raises(RuntimeError, match="refused 1 bulk message"):
        queue.send([{"n": n} for n in range(5)])
    assert queue._client.calls == [["0", "1", "2", "3", "4"], ["2"]]  # no third send: the planner fails instead


def test_s3_export_files_keep_the_file_under_exports_and_sign_a_get_link(aws, tmp_path):
    import botocore.session

    from incentives.adapters.export_files import LINK_SECONDS, S3ExportFiles

    s3 = botocore.session.get_session().create_client("s3")
    s3.create_bucket(Bucket="exports", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    local = tmp_path / "x.csv"
    local.write_text("code,status\nA-1,active\n", encoding="utf-8")
    files = S3ExportFiles("exports")
    key = files.store("summer", "exp_1", str(local))
    assert key == "exports/summer/exp_1.csv"
    obj = s3.get_object(Bucket="exports", Key=key)
    assert obj["Body"].read() == b"code,status\nA-1,active\n" and obj["ContentType"].startswith("text/csv")
    answer = files.answer(key)
    url = urlparse(answer["url"])
    assert url.path.endswith("/exports/summer/exp_1.csv") or url.path.endswith("/summer/exp_1.csv")
    query = parse_qs(url.query)
    assert query.get("X-Amz-Expires") == [str(LINK_SECONDS)] or "Expires" in query
    assert answer["url_expires_at"].endswith("Z")
    assert os.path.exists(local)  # S3 keeps a copy; the caller removes its temporary file
