"""The optional hosting of web/claim and web/dashboard (infra/pages.py): absent by default; with
`incentives:host_pages=true` a private bucket behind CloudFront (OAC, HTTPS only, security headers), the page files
and the API's URL deployed into it, and the distribution's origin accepted by the claims function."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from infra import REPO_ROOT
from infra.pages import DASHBOARD_API_PATHS, PAGE_ROUTING_FUNCTION
from tests.infra.conftest import Synth

HOSTING_TYPES = ("AWS::S3::Bucket", "AWS::CloudFront::Distribution", "AWS::CloudFront::OriginAccessControl",
                 "Custom::CDKBucketDeployment")


@pytest.fixture(scope="module")
def hosted(tmp_path_factory) -> Synth:
    from infra.app_builder import build_app

    outdir = tmp_path_factory.mktemp("cdk.out.pages")
    context = {"aws:cdk:bundling-stacks": [], "incentives:config_dir": str(REPO_ROOT / "config"),
               "incentives:host_pages": "true"}  # as `-c incentives:host_pages=true` gives it: a string
    app, stack = build_app(context=context, outdir=str(outdir))
    app.synth()  # cdk-nag: an unacknowledged finding raises here
    template = json.loads((outdir / f"{stack.artifact_id}.template.json").read_text())
    return Synth(outdir=outdir, template=template, stack=stack)


def distribution(s: Synth) -> dict:
    (dist,) = s.of_type("AWS::CloudFront::Distribution").values()
    return dist["Properties"]["DistributionConfig"]


def claims_environment(s: Synth) -> dict:
    return s.functions()["claims"][1]["Environment"]["Variables"]


def pages_of_type(synth, cfn_type: str) -> dict:
    """The hosting construct's resources of a type (the stack has other buckets: the bulk exports')."""
    return {k: v for k, v in synth.of_type(cfn_type).items() if k.startswith("Pages")}


def test_off_by_default_no_bucket_no_distribution_no_engine_origin(synth):
    for cfn_type in HOSTING_TYPES:
        assert pages_of_type(synth, cfn_type) == {}, cfn_type
    assert synth.of_type("AWS::CloudFront::Distribution") == {}
    assert "ENGINE_ORIGINS" not in claims_environment(synth)
    assert "PagesUrl" not in synth.template["Outputs"]
    assert json.loads((REPO_ROOT / "cdk.json").read_text())["context"]["incentives:host_pages"] is False


def test_on_the_bucket_is_private_and_tls_only_and_only_cloudfront_reads_it(hosted):
    ((bucket_id, bucket),) = pages_of_type(hosted, "AWS::S3::Bucket").items()
    props = bucket["Properties"]
    assert props["PublicAccessBlockConfiguration"] == {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                                       "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert "WebsiteConfiguration" not in props
    (policy,) = [p["Properties"]["PolicyDocument"]["Statement"]
                 for p in hosted.of_type("AWS::S3::BucketPolicy").values()
                 if p["Properties"]["Bucket"] == {"Ref": bucket_id}]
    assert any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
               for s in policy)
    (dist_id,) = hosted.of_type("AWS::CloudFront::Distribution")
    cloudfront = {"Service": "cloudfront.amazonaws.com"}
    reads = [s for s in policy if s["Effect"] == "Allow" and s.get("Principal") == cloudfront]
    assert len(reads) == 1 and reads[0]["Action"] == "s3:GetObject"
    assert hosted.flatten(reads[0]["Condition"]["StringEquals"]["AWS:SourceArn"]).endswith(f"/${{{dist_id}}}")
    assert not [s for s in policy if s.get("Principal") in ("*", {"AWS": "*"}) and s["Effect"] == "Allow"]


def test_on_the_distribution_reads_the_bucket_through_oac_over_https_only_with_security_headers(hosted):
    config = distribution(hosted)
    (oac,) = hosted.of_type("AWS::CloudFront::OriginAccessControl").values()
    assert oac["Properties"]["OriginAccessControlConfig"]["SigningBehavior"] == "always"
    (s3_origin,) = [o for o in config["Origins"] if "S3OriginConfig" in o]
    assert "OriginAccessControlId" in s3_origin and s3_origin["S3OriginConfig"]["OriginAccessIdentity"] == ""
    behaviors = [config["DefaultCacheBehavior"], *config["CacheBehaviors"]]
    assert {b["ViewerProtocolPolicy"] for b in behaviors} == {"https-only"}
    assert config["DefaultCacheBehavior"]["TargetOriginId"] == s3_origin["Id"]
    assert config["DefaultCacheBehavior"]["AllowedMethods"] == ["GET", "HEAD"]
    (policy_id,) = {b["ResponseHeadersPolicyId"]["Ref"] for b in behaviors}
    headers = hosted.resources[policy_id]["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    assert headers["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 31_536_000
    assert headers["FrameOptions"]["FrameOption"] == "DENY" and headers["ContentTypeOptions"]["Override"]
    assert headers["ReferrerPolicy"]["ReferrerPolicy"] == "no-referrer"
    csp = hosted.flatten(headers["ContentSecurityPolicy"]["ContentSecurityPolicy"])
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "img-src 'self' data:" in csp
    (api_id,) = hosted.of_type("AWS::ApiGateway::RestApi")
    assert f"connect-src 'self' https://${{{api_id}}}.execute-api." in csp  # the landing page calls the API


def test_on_only_the_dashboards_reads_go_to_the_api_uncached_with_the_key_forwarded(hosted):
    config = distribution(hosted)
    (api_id,) = hosted.of_type("AWS::ApiGateway::RestApi")
    (api_origin,) = [o for o in config["Origins"] if "CustomOriginConfig" in o]
    assert hosted.flatten(api_origin["DomainName"]).startswith(f"${{{api_id}}}.execute-api.")
    assert api_origin["OriginPath"] == "/prod"
    assert api_origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    api_behaviors = {b["PathPattern"]: b for b in config["CacheBehaviors"]}
    assert set(api_behaviors) == set(DASHBOARD_API_PATHS)
    assert not any(p.startswith("/v1/public") for p in api_behaviors)  # claims see the shopper's own address
    for behavior in api_behaviors.values():
        assert behavior["TargetOriginId"] == api_origin["Id"]
        assert behavior["AllowedMethods"] == ["GET", "HEAD", "OPTIONS"]
        assert behavior["CachePolicyId"] == "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"  # Managed-CachingDisabled
        assert behavior["OriginRequestPolicyId"] == "b689b0a8-53d0-40ab-baf2-68738e2966ac"  # AllViewerExceptHostHeader


def test_on_the_claims_function_accepts_the_pages_origin_and_the_page_gets_the_apis_url(hosted):
    (dist_id,) = hosted.of_type("AWS::CloudFront::Distribution")
    assert hosted.flatten(claims_environment(hosted)["ENGINE_ORIGINS"]) == f"https://${{{dist_id}.DomainName}}"
    assert hosted.flatten(hosted.template["Outputs"]["PagesUrl"]["Value"]) == f"https://${{{dist_id}.DomainName}}"
    (deployment,) = hosted.of_type("Custom::CDKBucketDeployment").values()
    props = deployment["Properties"]
    assert props["DistributionId"] == {"Ref": dist_id} and props["DistributionPaths"] == ["/*"]
    files, config = (hosted.outdir / f"asset.{key.removesuffix('.zip')}" for key in props["SourceObjectKeys"])
    assert (files / "claim" / "index.html").is_file() and (files / "dashboard" / "dashboard.js").is_file()
    assert not (files / "claim" / "config.js").exists()  # the local run's empty one stays out
    script = (config / "claim" / "config.js").read_text()
    markers = props["SourceMarkers"][1]
    for marker, value in markers.items():
        script = script.replace(marker, hosted.flatten(value))
    (api_id,) = hosted.of_type("AWS::ApiGateway::RestApi")
    (stage_id,) = hosted.of_type("AWS::ApiGateway::Stage")
    assert script.startswith(f'window.INCENTIVES_API_URL = "https://${{{api_id}}}.execute-api.')
    assert f"/${{{stage_id}}}/" in script


def test_the_landing_page_reads_the_api_url_from_its_config_script():
    html = (REPO_ROOT / "web" / "claim" / "index.html").read_text()
    assert html.index('src="/claim/config.js"') < html.index('src="/claim/claim.js"')
    assert 'window.INCENTIVES_API_URL = "";' in (REPO_ROOT / "web" / "claim" / "config.js").read_text()
    assert 'fetch(apiBase + "/v1/public/campaigns/"' in (REPO_ROOT / "web" / "claim" / "claim.js").read_text()


@pytest.mark.skipif(shutil.which("node") is None, reason="node runs the CloudFront function")
@pytest.mark.parametrize(("uri", "answer"), [
    ("/claim/welcome10", "/claim/index.html"),
    ("/claim/claim.js", "/claim/claim.js"),
    ("/claim/config.js", "/claim/config.js"),
    ("/dashboard/", "/dashboard/index.html"),
    ("/dashboard/dashboard.css", "/dashboard/dashboard.css"),
    ("/claim", "301 /claim/"),
    ("/dashboard", "301 /dashboard/"),
    ("/claim/a/b", "/claim/a/b"),
])
def test_the_page_routing_function_answers_each_page_path(uri, answer, tmp_path: Path):
    script = tmp_path / "routing.js"
    script.write_text(PAGE_ROUTING_FUNCTION + """
var out = handler({request: {uri: process.argv[2], headers: {}}});
console.log(out.statusCode ? out.statusCode + " " + out.headers.location.value : out.uri);
""")
    out = subprocess.run(["node", str(script), uri], capture_output=True, text=True, check=True, timeout=30)
    assert out.stdout.strip() == answer


def test_the_switch_reads_true_and_false_and_refuses_anything_else():
    from aws_cdk import App

    from infra.settings import InfraSettings

    def host_pages(value) -> bool:
        return InfraSettings.from_context(App(context={"incentives:host_pages": value}).node).host_pages

    assert host_pages("true") is host_pages(True) is True
    assert host_pages("false") is host_pages(False) is False
    with pytest.raises(ValueError, match="incentives:host_pages must be true or false"):
        host_pages("maybe")
