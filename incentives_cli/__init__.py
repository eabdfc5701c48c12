"""`incentives`: the operators' command-line tool (DESIGN.md "Operator tools").

It talks to the engine's HTTP API (INCENTIVES_URL, INCENTIVES_OPERATOR_KEY) or edits and checks the config files
(INCENTIVES_CONFIG_DIR, default config/). Operator tooling: installed into the checkout's .venv, never shipped
in a Lambda layer. The package is named incentives_cli so it can never shadow the layer's `incentives`.
"""
__version__ = "0.1.0"
