# Infrastructure targets. The main Makefile includes this file and defines PY (its venv's python).
# `make synth` builds the arm64 dependency layer for real (pip, no Docker), exactly as `cdk deploy` does.

CDK ?= node_modules/.bin/cdk
CDK_OUT ?= cdk.out
CFN_LINT ?= $(dir $(PY))cfn-lint
CDK_ENV = CDK_DISABLE_CLI_TELEMETRY=true JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20
# Prerequisites that set up the venv and node_modules: set it (before the include) to the main Makefile's setup target.
INFRA_SETUP ?=

.PHONY: synth lint-infra

## synth: validate config/, run cdk-nag (AwsSolutions) and write CloudFormation to cdk.out/
synth: $(INFRA_SETUP)
	$(CDK_ENV) $(CDK) synth --quiet --no-notices --app "$(PY) app.py" --output $(CDK_OUT)

## lint-infra: synth, then cfn-lint every template (W3005: CDK's DependsOn on a function's role is redundant, by design)
lint-infra: synth
	$(CFN_LINT) --ignore-checks W3005 -- $(CDK_OUT)/*.template.json
