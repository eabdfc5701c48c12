"""The code export in the synthesized template: gsi2 with its projection, readable by the operators function only,
and the export route on the operators function behind the API key."""
from __future__ import annotations

from incentives.adapters import schema
from incentives.http.routes import OPERATOR, ROUTES

from tests.infra.test_stack import _actions


def test_gsi2_projects_only_the_exported_attributes(synth):
    ((_, table),) = synth.of_type("AWS::DynamoDB::Table").items()
    (gsi2,) = [i for i in table["Properties"]["GlobalSecondaryIndexes"] if i["IndexName"] == "gsi2"]
    assert gsi2["Projection"] == {"ProjectionType": "INCLUDE", "NonKeyAttributes": schema.GSI2_ATTRIBUTES}
    assert [k["AttributeName"] for k in gsi2["KeySchema"]] == ["gsi2pk", "gsi2sk"]


def test_only_the_operators_and_export_functions_may_read_gsi2(synth):
    (table_id,) = synth.of_type("AWS::DynamoDB::Table")
    gsi2 = f"${{{table_id}.Arn}}/index/gsi2"
    readers = {folder for folder in synth.functions()
               if any(gsi2 in arns for a, arns in _actions(synth, folder).items() if a.startswith("dynamodb:"))}
    assert readers == {"operators", "code_exports"}
    assert gsi2 in _actions(synth, "operators")["dynamodb:Query"]


def test_the_export_route_is_an_operator_route_of_the_operators_function(synth):
    (route,) = [r for r in ROUTES if r.name == "export_codes"]
    assert (route.method, route.path, route.function, route.role) == (
        "GET", "/v1/campaigns/{campaign_id}/codes", "operators", OPERATOR)
    methods = {(m["Properties"]["HttpMethod"], m["Properties"].get("OperationName")): m["Properties"]
               for m in synth.of_type("AWS::ApiGateway::Method").values()}
    assert methods[("GET", "export_codes")]["ApiKeyRequired"] is True
