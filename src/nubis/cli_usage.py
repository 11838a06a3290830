"""`nubis usage`: requests, GB-seconds and what they would cost on AWS Lambda, from the server's meter."""
from __future__ import annotations

import argparse
from typing import Any

from nubis import cli_output as out
from nubis.cli_client import caller_account, nubis_get


def _pricing_source(pricing: dict[str, Any]) -> str:
    """Where the prices shown come from: AWS's defaults, or the server's pricing.toml."""
    from nubis.billing import Pricing

    if all(pricing.get(k) == v for k, v in Pricing().to_dict().items()):
        return "AWS us-east-1 defaults; change them in the server's <data-dir>/pricing.toml"
    return "set in the server's <data-dir>/pricing.toml; AWS us-east-1 defaults otherwise"


def render_usage(doc: dict[str, Any]) -> str:
    """People's view of a `billing.summarize` document: per-function table, totals with the free
    tier applied, a months table when there is more than one month, and the prices in use."""
    lines: list[str] = []
    functions = doc.get("functions") or []
    t = doc.get("totals") or {}
    months = doc.get("months") or []
    totals = [t.get(k, 0.0) for k in ("request_cost", "compute_cost", "gross_cost", "free_tier_credit", "net_cost")]
    decimals = out.money_decimals([f["gross_cost"] for f in functions] + totals
                                  + [m[k] for m in months for k in ("gross_cost", "free_tier_credit", "net_cost")])

    def money(usd: float) -> str:
        return out.fmt_money(usd, decimals)

    if functions:
        gbs = out.gbs_decimals(f["gb_seconds"] for f in functions)
        rows = [(f["function"], out.fmt_int(f["requests"]), out.fmt_gbs(f["gb_seconds"], gbs),
                 out.fmt_int(f["cold_starts"]), money(f["gross_cost"])) for f in functions]
        lines += [out.table(["FUNCTION", "REQUESTS", "GB-S", "COLD", "COST"], rows, "lrrrr"), ""]
    lines.append("totals")
    lines.append(out.kv_block([
        ("requests", out.fmt_int(t.get("requests", 0))),
        ("GB-seconds", out.fmt_gbs(t.get("gb_seconds", 0.0))),
        ("request cost", money(t.get("request_cost", 0.0))),
        ("compute cost", money(t.get("compute_cost", 0.0))),
        ("gross cost", money(t.get("gross_cost", 0.0))),
        ("free tier", money(-t.get("free_tier_credit", 0.0))),
        ("net cost", money(t.get("net_cost", 0.0))),
    ], right=True))
    if len(months) > 1:
        gbs = out.gbs_decimals(m["gb_seconds"] for m in months)
        rows = [(m["month"], out.fmt_int(m["requests"]), out.fmt_gbs(m["gb_seconds"], gbs),
                 money(m["gross_cost"]), money(-m["free_tier_credit"]), money(m["net_cost"])) for m in months]
        lines += ["", out.table(["MONTH", "REQUESTS", "GB-S", "GROSS", "FREE TIER", "NET"], rows, "lrrrrr")]
    p = doc.get("pricing") or {}
    if p:
        lines += [
            "",
            f"Per-function costs are gross; the free tier ({out.fmt_int(p['free_requests_per_month'])} requests "
            f"and {out.fmt_int(p['free_gb_seconds_per_month'])} GB-s per calendar month, UTC) is applied to "
            "the totals only.",
            f"Prices: {out.fmt_price(p['request_price_per_million'])} per 1M requests, "
            f"{out.fmt_price(p['gb_second_price'])} per GB-s x86_64, {out.fmt_price(p['gb_second_price_arm64'])} "
            f"per GB-s arm64 ({_pricing_source(p)}).",
        ]
    return "\n".join(lines)


def cmd_usage(args: argparse.Namespace) -> int:
    # Same scope as `nubis ls`: the caller's account and region.
    params: dict[str, str] = {"account": caller_account(), "region": args.region}
    if args.function:
        params["function"] = args.function
    if args.since is not None:
        params["since"] = str(int(args.since))
    doc = nubis_get(args.endpoint, "/_nubis/usage", params)
    if args.json:
        out.dump_json(doc)
    else:
        print(render_usage(doc))
    return 0
