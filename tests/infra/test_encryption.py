"""The encryption_key and reserved_concurrency deploy settings (infra/encryption.py, infra/settings.py): the
default template has neither; with `customer` every resource that can take the key has it and each role may use
it only as its function needs; with a key ARN nothing is created and the ARN is used; bad values fail synth."""
from __future__ import annotations

import json

import pytest

from tests.infra.conftest import HARDENED, function_folders, synthesize
from tests.infra.test_iam import ALLOWED, _symbols

KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def _key_ref(synth) -> dict:
    (key_id,) = synth.of_type("AWS::KMS::Key")
    return {"Fn::GetAtt": [key_id, "Arn"]}


def _encrypted_with(synth, key) -> dict[str, object]:
    """Every resource that can take a key -> the key it names (None: none)."""
    properties = {"AWS::Logs::LogGroup": "KmsKeyId", "AWS::SQS::Queue": "KmsMasterKeyId",
                  "AWS::SNS::Topic": "KmsMasterKeyId", "AWS::Lambda::Function": "KmsKeyArn",
                  "AWS::SecretsManager::Secret": "KmsKeyId"}
    out = {f"{t} {logical_id}": res["Properties"].get(prop) == key
           for t, prop in properties.items() for logical_id, res in synth.of_type(t).items()}
    for logical_id, table in synth.of_type("AWS::DynamoDB::Table").items():
        out[f"table {logical_id}"] = table["Properties"].get("SSESpecification") == {
            "SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": key}
    (exports,) = [b for k, b in synth.of_type("AWS::S3::Bucket").items() if k.startswith("BulkExports")]
    (rule,) = exports["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    out["export bucket"] = rule == {"BucketKeyEnabled": True, "ServerSideEncryptionByDefault": {
        "SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}}
    return out


def _kms_statements(synth, folder: str) -> list[dict]:
    return [s for s in synth.role_statements(folder) if any(a.startswith("kms:") for a in synth.actions(s))]


def test_the_default_template_has_no_key_and_no_reserved_concurrency(synth):
    assert synth.of_type("AWS::KMS::Key") == {}
    assert "kms:" not in json.dumps(synth.of_type("AWS::IAM::Policy"))
    for folder, (_, props) in synth.functions().items():
        assert "KmsKeyArn" not in props and "ReservedConcurrentExecutions" not in props, folder
    for logical_id, res in {**synth.of_type("AWS::Logs::LogGroup"), **synth.of_type("AWS::SNS::Topic")}.items():
        assert "KmsKeyId" not in res["Properties"] and "KmsMasterKeyId" not in res["Properties"], logical_id
    (table,) = synth.of_type("AWS::DynamoDB::Table").values()
    assert "KMSMasterKeyId" not in json.dumps(table["Properties"].get("SSESpecification", {}))
    # as before the settings existed: SSE-SQS queues, an SSE-S3 export bucket
    assert all(q["Properties"]["SqsManagedSseEnabled"] is True for q in synth.of_type("AWS::SQS::Queue").values())
    assert '"SSEAlgorithm": "AES256"' in json.dumps(synth.of_type("AWS::S3::Bucket"))


def test_customer_creates_one_rotated_retained_key(synth_customer):
    (key,) = synth_customer.of_type("AWS::KMS::Key").values()
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == "Retain"  # the table and retained log groups outlive the stack


def test_customer_key_encrypts_every_resource_that_can_take_it(synth_customer):
    encrypted = _encrypted_with(synth_customer, _key_ref(synth_customer))
    kinds = {what.split()[0] for what in encrypted}
    assert kinds == {"AWS::Logs::LogGroup", "AWS::SQS::Queue", "AWS::SNS::Topic", "AWS::Lambda::Function",
                     "AWS::SecretsManager::Secret", "table", "export"}
    assert [what for what, yes in encrypted.items() if not yes] == []
    queues = synth_customer.of_type("AWS::SQS::Queue").values()
    assert all("SqsManagedSseEnabled" not in q["Properties"] for q in queues)


def test_the_key_policy_lets_only_the_services_that_encrypt_for_the_engine_use_it(synth_customer):
    (key,) = synth_customer.of_type("AWS::KMS::Key").values()
    by_service = {}
    for s in key["Properties"]["KeyPolicy"]["Statement"]:
        principal = s["Principal"]
        service = principal.get("Service")
        name = synth_customer.flatten(service) if service else synth_customer.flatten(principal["AWS"])
        by_service[name] = s
    assert set(by_service) == {"arn:${AWS::Partition}:iam::${AWS::AccountId}:root",  # IAM decides for the roles
                               "logs.${AWS::Region}.amazonaws.com", "cloudwatch.amazonaws.com", "events.amazonaws.com"}
    logs = by_service["logs.${AWS::Region}.amazonaws.com"]
    assert synth_customer.flatten(logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]) == \
        "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:*"
    for service in ("cloudwatch.amazonaws.com", "events.amazonaws.com"):  # alarms -> topic, rules -> dead letters
        statement = by_service[service]
        assert sorted(synth_customer.actions(statement)) == ["kms:Decrypt", "kms:GenerateDataKey"]
        assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


def _generates_data_keys() -> set[str]:
    """Functions that put messages on a queue or write export objects (test_iam.ALLOWED): the only ones that need a
    data key; the bulk worker's failures are redriven by SQS itself (it only receives)."""
    return {folder for folder, allowed in ALLOWED.items()
            if "sqs:SendMessage" in allowed or "s3:PutObject" in allowed}


def test_each_role_may_use_the_key_only_as_its_function_needs(synth_customer):
    key = synth_customer.flatten(_key_ref(synth_customer))
    senders = _generates_data_keys()
    assert {"bulk_codes", "code_exports", "event_fanout", "journeys"} <= senders
    assert not {"storefront", "bulk_codes_worker", "operators"} & senders
    for folder in synth_customer.functions():
        found: dict[str, set[str]] = {}
        for statement in _kms_statements(synth_customer, folder):
            assert synth_customer.arns(statement) == [key], folder  # that key only, never "*"
            for action in synth_customer.actions(statement):
                found.setdefault(action, set()).add(json.dumps(statement.get("Condition"), sort_keys=True))
        expected = {"kms:Decrypt"} | ({"kms:GenerateDataKey"} if folder in senders else set())
        assert set(found) == expected, folder
        if folder in senders:  # a data key only through SQS or S3, never for the function's own use
            (condition,) = found["kms:GenerateDataKey"]
            services = json.loads(condition)["StringEquals"]["kms:ViaService"]
            services = [services] if isinstance(services, (str, dict)) else services
            expected_services = {f"{s}.${{AWS::Region}}.amazonaws.com"
                                 for s, needed in (("sqs", "sqs:SendMessage" in ALLOWED[folder]),
                                                   ("s3", "s3:PutObject" in ALLOWED[folder])) if needed}
            assert {synth_customer.flatten(s) for s in services} == expected_services, folder


def test_every_other_permission_is_the_same_as_without_a_key(synth_customer):
    """The key adds kms: rights only (test_iam.py's table holds for the hardened template too)."""
    problems = {}
    for folder, allowed in ALLOWED.items():
        found = {a: r for a, r in _symbols(synth_customer, folder).items() if not a.startswith("kms:")}
        if found != allowed:
            problems[folder] = {a: sorted(found.get(a, set()) ^ allowed.get(a, set()))
                                for a in set(found) | set(allowed) if found.get(a) != allowed.get(a)}
    assert problems == {}


def test_reserved_concurrency_is_applied_to_the_named_functions(synth_customer):
    reserved = dict(item.split("=") for item in HARDENED["reserved_concurrency"].split(","))
    assert {folder: props.get("ReservedConcurrentExecutions")
            for folder, (_, props) in synth_customer.functions().items()} == {f: int(n) for f, n in reserved.items()}


@pytest.fixture(scope="module")
def synth_imported(tmp_path_factory):
    return synthesize(tmp_path_factory.mktemp("cdk.out.imported"),
                      {"encryption_key": KEY_ARN, "reserved_concurrency": json.dumps({"storefront": 50})})


def test_an_imported_key_is_used_and_none_is_created(synth_imported):
    assert synth_imported.of_type("AWS::KMS::Key") == {}
    encrypted = _encrypted_with(synth_imported, KEY_ARN)
    assert [what for what, yes in encrypted.items() if not yes] == []
    for folder in synth_imported.functions():
        statements = _kms_statements(synth_imported, folder)
        assert statements and all(synth_imported.arns(s) == [KEY_ARN] for s in statements), folder


def test_a_json_reserved_concurrency_reserves_only_the_named_function(synth_imported):
    reserved = {folder: props["ReservedConcurrentExecutions"]
                for folder, (_, props) in synth_imported.functions().items() if "ReservedConcurrentExecutions" in props}
    assert reserved == {"storefront": 50}


def _build(**settings):
    from infra import REPO_ROOT
    from infra.app_builder import build_app

    return build_app(context={"aws:cdk:bundling-stacks": [], "incentives:config_dir": str(REPO_ROOT / "config"),
                              **{f"incentives:{k}": v for k, v in settings.items()}})


@pytest.mark.parametrize("value", ["yes", "AWS", "", "arn:aws:kms:eu-west-1:123456789012:alias/engine",
                                   "arn:aws:s3:::bucket"])
def test_a_bad_encryption_key_fails_synth_saying_what_it_may_be(value):
    with pytest.raises(ValueError, match=r"incentives:encryption_key must be 'aws', 'customer' or a KMS key ARN"):
        _build(encryption_key=value)


def test_an_unknown_function_folder_is_refused_by_name():
    with pytest.raises(ValueError, match=r"incentives:reserved_concurrency names no function folder: "
                                         r"checkout, storefrnt \(the folders are: bulk_codes, "):
        _build(reserved_concurrency="storefront=5,storefrnt=5,checkout=1")


def test_the_bulk_worker_keeps_the_concurrency_of_its_queue_mapping():
    with pytest.raises(ValueError, match=r"too small for bulk_codes_worker \(at least 8\)"):
        _build(reserved_concurrency="bulk_codes_worker=7")


@pytest.mark.parametrize("value,message", [
    ("storefront=five", "must be 'folder=n,...' or a JSON object"),
    ("storefront", "must be 'folder=n,...' or a JSON object"),
    ('{"storefront": true}', "must be 'folder=n,...' or a JSON object"),
    ("storefront=0", "storefront must reserve at least 1 execution"),
])
def test_a_malformed_reserved_concurrency_fails_synth(value, message):
    with pytest.raises(ValueError, match=message):
        _build(reserved_concurrency=value)


@pytest.mark.parametrize("value", ["", "0"])
def test_no_reserved_concurrency_is_the_default(value):
    from infra.settings import InfraSettings

    assert InfraSettings(reserved_concurrency=value).reserved_concurrency_map() == {}
    assert InfraSettings().encryption_key == "aws"


def test_the_folders_are_the_stack_functions(synth):
    assert function_folders() == sorted(synth.functions())


def test_cfn_lint_finds_no_errors_in_the_hardened_template(synth_customer):
    from cfnlint.api import lint_file

    matches = lint_file(synth_customer.outdir / f"{synth_customer.stack.artifact_id}.template.json")
    findings = [f"{m.rule.id} {m.message}" for m in matches if m.rule.id != "W3005"]  # as test_stack.py
    assert findings == []


def test_cdk_nag_passed_on_the_hardened_template_with_no_new_acknowledgment(synth_customer):
    """synthesize() raises on an unacknowledged finding (the key's rotation is AwsSolutions-KMS5); the key and
    its grants needed no acknowledgment beyond those of the default template (test_stack.py)."""
    from tests.infra.test_stack import ACKNOWLEDGED

    report = json.loads((synth_customer.outdir / "validation-report.json").read_text())
    assert all(r["conclusion"] != "failure" for r in report["pluginReports"])
    metadata = json.loads((synth_customer.outdir / f"{synth_customer.stack.artifact_id}.metadata.json").read_text())
    acknowledged = {rule.removeprefix("Annotation::") for entries in metadata.values() for entry in entries
                    if entry["type"] == "aws:cdk:acknowledged-rules" for rule in entry["data"]}
    assert acknowledged == ACKNOWLEDGED
