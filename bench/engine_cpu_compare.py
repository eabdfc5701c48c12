"""The checkout handler's own CPU per call (validation, redemption), the engine's DynamoDB client stubbed with the
response a real call got. Usage: `.venv/bin/python bench/engine_cpu_compare.py ROOT` (ROOT: a checkout of this
repository, e.g. an older commit in a git worktree with .venv and node_modules linked), run alternately on two roots
to compare commits (docs/benchmarks.md, "The validation ratio profiled"). Uses only what bench/checkout.py and
bench/dynamo.py have had since session 2, so it runs on older commits too.
"""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path


def main(root: str, n: int) -> str:
    sys.path.insert(0, root)
    os.chdir(root)
    from bench import Context, setup_path

    setup_path()
    import yaml

    from bench import checkout as c
    from bench.dynamo import LambdaContext, clients, engine_env, load_handler, reset_engine_state

    ctx = Context()
    table = ctx.fresh_table("stubcpu")
    out = []
    try:
        with tempfile.TemporaryDirectory() as tmp, engine_env(tmp, table, ctx.ddb(), "storefront"):
            campaigns = Path(tmp) / "config" / "campaigns"
            campaigns.mkdir(parents=True)
            (campaigns / f"{c.CAMPAIGN_ID}.yaml").write_text(yaml.safe_dump(c.CAMPAIGN))
            reset_engine_state()
            from incentives.adapters.config_source import default_source
            from incentives.adapters.dynamo import Table

            engine_client, _bare, _floor = clients(ctx.ddb())
            codes = c._preissue(Table(table, engine_client), default_source(), 2)
            handler, lctx = load_handler("storefront"), LambdaContext("storefront")
            real = engine_client._make_api_call
            with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
                for label, resource, code, status in (("validation", "/v1/validations", codes[0], 200),
                                                      ("redemption", "/v1/redemptions", codes[1], 201)):
                    ev = c._event(resource, c._checkout_body(code, "cust-1", "o-1"))
                    recorded: dict = {}

                    def keep(op, params, recorded=recorded):
                        recorded[op] = real(op, params)
                        return recorded[op]
                    engine_client._make_api_call = keep
                    got = handler(ev, lctx)
                    engine_client._make_api_call = lambda op, params, recorded=recorded: recorded[op]
                    lat = []
                    for i in range(500 + n):
                        t = time.perf_counter()
                        got = handler(ev, lctx)
                        if i >= 500:
                            lat.append(time.perf_counter() - t)
                    engine_client._make_api_call = real
                    if got["statusCode"] != status:
                        raise RuntimeError(f"{label}: {got}")
                    lat.sort()
                    out.append(f"{label} p50 {lat[n // 2] * 1e6:.0f} us")
    finally:
        ctx.close()
    return f"{root} " + "; ".join(out)


if __name__ == "__main__":
    print(main(sys.argv[1], int(os.environ.get("N", "3000"))))
