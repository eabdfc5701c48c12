"""Optional hosting of the engine's own pages (web/claim, web/dashboard): a private S3 bucket behind CloudFront
(origin access control, HTTPS only, security headers). Off by default; `-c incentives:host_pages=true` (or cdk.json)
switches it on (docs/runbook.md, "Hosted pages").

- The landing page calls the API's own URL (written at deploy time into /claim/config.js) so API Gateway sees the
  shopper's address, which the claims' per-client limit counts; the distribution's origin is added to the claims
  function's ENGINE_ORIGINS, so every campaign with claims accepts the hosted page without an allowed_origins entry.
- The read-only dashboard calls the API through this distribution (same origin: the operator key needs no CORS):
  only its GET paths are forwarded, uncached, with the viewer's headers and query strings.
"""
from __future__ import annotations

import json

from aws_cdk import Acknowledgment, Aws, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct

from . import REPO_ROOT

WEB_DIR = REPO_ROOT / "web"
API_CONFIG_KEY = "claim/config.js"  # the landing page's API base URL; web/claim/config.js is the local run's
# The API paths the dashboard reads (web/dashboard/dashboard.js); nothing else of the API goes through CloudFront.
DASHBOARD_API_PATHS = ("/v1/campaigns*", "/v1/metrics/*", "/v1/referral-programs/*")

# /claim/{campaign_id} and /dashboard/ are pages: their paths without a file name answer the page's index.html.
PAGE_ROUTING_FUNCTION = """
function handler(event) {
  var request = event.request;
  var uri = request.uri;
  if (uri === "/claim" || uri === "/dashboard") {
    return {statusCode: 301, statusDescription: "Moved Permanently", headers: {location: {value: uri + "/"}}};
  }
  var last = uri.substring(uri.lastIndexOf("/") + 1);
  if (uri.indexOf("/claim/") === 0 && uri.split("/").length === 3 && last.indexOf(".") === -1) {
    request.uri = "/claim/index.html";
  } else if (uri === "/dashboard/") {
    request.uri = "/dashboard/index.html";
  }
  return request;
}
"""


def content_security_policy(api_origin: str) -> str:
    return "; ".join((
        "default-src 'self'",
        f"connect-src 'self' {api_origin}",
        "img-src 'self' data:",  # the claim's QR code is a data: SVG
        "style-src 'self'",
        "script-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ))


class Pages(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, rest_api: apigw.RestApi, stage_name: str,
                 claims_function: lambda_.Function) -> None:
        """``stage_name``: the API's stage as a plain name (a reference to the stage would make the distribution
        depend on the API's deployment, which depends on the claims function, which names the distribution)."""
        super().__init__(scope, construct_id)
        stage = stage_name
        api_host = f"{rest_api.rest_api_id}.execute-api.{Aws.REGION}.{Aws.URL_SUFFIX}"
        api_origin = f"https://{api_host}"

        self.bucket = s3.Bucket(
            self,
            "Bucket",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=False,
            removal_policy=RemovalPolicy.DESTROY,  # only copies of web/: a redeploy writes them again
            auto_delete_objects=True,
        )
        headers = cloudfront.ResponseHeadersPolicy(
            self,
            "SecurityHeaders",
            comment="incentives pages: HSTS, CSP, no framing, no sniffing, no referrer",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=Duration.days(365), include_subdomains=True, override=True),
                content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                    content_security_policy=content_security_policy(api_origin), override=True),
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                frame_options=cloudfront.ResponseHeadersFrameOptions(
                    frame_option=cloudfront.HeadersFrameOption.DENY, override=True),
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=cloudfront.HeadersReferrerPolicy.NO_REFERRER, override=True),
                xss_protection=cloudfront.ResponseHeadersXSSProtection(protection=True, mode_block=True,
                                                                      override=True),
            ),
        )
        routing = cloudfront.Function(
            self,
            "PageRouting",
            code=cloudfront.FunctionCode.from_inline(PAGE_ROUTING_FUNCTION),
            runtime=cloudfront.FunctionRuntime.JS_2_0,
            comment="/claim/{campaign_id} and /dashboard/ answer their page",
        )
        api_behavior = cloudfront.BehaviorOptions(
            origin=origins.HttpOrigin(api_host, origin_path=f"/{stage}",
                                      protocol_policy=cloudfront.OriginProtocolPolicy.HTTPS_ONLY),
            viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
            allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD_OPTIONS,  # the dashboard only reads
            cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
            origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,  # x-api-key, query
            response_headers_policy=headers,
        )
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment="incentives engine pages: /claim/{campaign_id}, /dashboard/",
            default_root_object="dashboard/index.html",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(self.bucket),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                response_headers_policy=headers,
                function_associations=[cloudfront.FunctionAssociation(
                    function=routing, event_type=cloudfront.FunctionEventType.VIEWER_REQUEST)],
            ),
            additional_behaviors={path: api_behavior for path in DASHBOARD_API_PATHS},
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
        )
        self.url = f"https://{self.distribution.distribution_domain_name}"

        # The landing page's API base; a deploy-time value (the API's URL) written next to the page.
        self.deployment = s3deploy.BucketDeployment(
            self,
            "Files",
            destination_bucket=self.bucket,
            sources=[
                s3deploy.Source.asset(str(WEB_DIR), exclude=[API_CONFIG_KEY, "**/__pycache__"]),
                s3deploy.Source.data(API_CONFIG_KEY, f"window.INCENTIVES_API_URL = {json.dumps(rest_api.url)};\n"),
            ],
            distribution=self.distribution,
            distribution_paths=["/*"],
            prune=True,
            memory_limit=256,
        )
        # The engine's own pages may always claim (services/claims.py): no allowed_origins entry needed.
        claims_function.add_environment("ENGINE_ORIGINS", self.url)
        self._acknowledge()

    def _acknowledge(self) -> None:
        Validations.of(self.bucket).acknowledge(
            Acknowledgment(id="AwsSolutions-S1",
                           reason="The bucket only holds copies of web/ written by the deployment; reads come "
                           "through CloudFront, and every API call the pages make is in the API's access log."),
        )
        Validations.of(self.distribution).acknowledge(
            Acknowledgment(id="AwsSolutions-CFR1",
                           reason="Shops sell where they sell: country rules are the campaigns' eligibility, "
                           "not a geo restriction on the pages."),
            Acknowledgment(id="AwsSolutions-CFR2",
                           reason="No WAF by default (a fixed monthly fee); the claims API is throttled per "
                           "client and per campaign, and the API stage is throttled (docs/runbook.md)."),
            Acknowledgment(id="AwsSolutions-CFR3",
                           reason="Standard logs need an ACL-enabled log bucket; the pages are static and every "
                           "API call they make is in the API's access log."),
            Acknowledgment(id="AwsSolutions-CFR4",
                           reason="The distribution uses the default *.cloudfront.net certificate, whose TLS "
                           "policy CloudFront fixes; a custom domain sets TLSv1.2_2021 (docs/runbook.md)."),
        )
        # CDK's BucketDeployment function is a stack-level singleton (it copies web/ in at deploy time): its role,
        # the asset bucket and the managed logging policy are CDK's own.
        handler_reason = ("CDK's BucketDeployment custom resource (copies web/ into the pages bucket at deploy time, "
                          "reading the CDK asset bucket); its function, role and policy are generated by CDK.")
        stack = Stack.of(self)
        for child in stack.node.children:
            if child.node.id.startswith("Custom::CDKBucketDeployment"):
                Validations.of(child).acknowledge(*(Acknowledgment(id=finding, reason=handler_reason) for finding in (
                    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                    "AWSLambdaBasicExecutionRole]",
                    "AwsSolutions-IAM5[Action::s3:GetBucket*]",
                    "AwsSolutions-IAM5[Action::s3:GetObject*]",
                    "AwsSolutions-IAM5[Action::s3:List*]",
                    "AwsSolutions-IAM5[Action::s3:Abort*]",
                    "AwsSolutions-IAM5[Action::s3:DeleteObject*]",
                    "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-"
                    "<AWS::Region>/*]",
                    f"AwsSolutions-IAM5[Resource::<{stack.get_logical_id(self.bucket.node.default_child)}.Arn>/*]",
                    "AwsSolutions-IAM5[Resource::*]",
                    "AwsSolutions-L1",
                )))
