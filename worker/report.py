"""A finished run's record in the bucket: runs/<id>/report.json (counts, invalid inputs,
failures, every pair) and runs/<id>/index.html (a contact sheet of the composites)."""
from __future__ import annotations

import datetime as dt
import html
import json
import posixpath
import urllib.parse

from worker.plan import Plan


def build_report(plan: Plan, status: dict, chunks: list[dict]) -> dict:
    """report.json: the run's counts, invalid inputs, failures and (up to report_max_pairs) every pair."""
    pairs, failures = [], []
    for chunk in sorted(chunks, key=lambda c: c["customer"]):
        ci = chunk["customer"]
        for p in chunk["pairs"]:
            # One pair's unstorable key must not stop the report (the pair failed with its reason).
            entry = {"customer": plan.customers[ci].key, "garment": plan.garments[p["garment"]].key,
                     "status": p["status"], "composite": plan.composite_key_or_none(ci, p["garment"])}
            for k in ("reason", "timings", "etag", "person_cached", "qa"):
                if p.get(k) is not None:
                    entry[k] = p[k]
            if p["status"] == "failed":
                failures.append(entry)
            pairs.append(entry)
    pairs.sort(key=lambda e: (e["customer"], e["garment"]))
    counts = {k: status[k] for k in ("pairs_planned", "pairs_up_to_date", "pairs_to_render", "rendered",
                                     "skipped_by_worker", "failed", "invalid_inputs", "chunks_total")}
    # Retries spent (bounded: TRYON_S3_MAX_ATTEMPTS per S3 call, max_retries per task).
    counts.update({k: int(status.get(k, 0)) for k in ("s3_retries", "task_retries", "chunks_resent")})
    # Composites of removed garments and customers deleted before the run (producer/prune.py).
    counts["pruned"] = int(status.get("pruned", 0))
    # composites the chain's QA verdict says a person should look at (models/qa.py)
    flagged = [e for e in pairs if e.get("qa", {}).get("status") == "needs_review"]
    counts["needs_review"] = len(flagged)
    report = {
        "run_id": plan.run_id, "bucket": plan.bucket, "chain": plan.chain, "force": plan.force,
        "created": plan.created, "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "customers": len(plan.customers), "garments": len(plan.garments),
        "counts": counts, "ok": counts["failed"] == 0,
        "invalid": plan.invalid, "failures": failures,
        "prune": json.loads(status["prune"]) if status.get("prune") else {"status": "not recorded"},
        "needs_review": [{k: e[k] for k in ("customer", "garment", "composite")} | {"reasons": e["qa"]["reasons"]}
                         for e in flagged],
    }
    if len(pairs) <= plan.report_max_pairs:
        report["pairs"] = pairs
    else:
        report["pairs_omitted"] = f"{len(pairs)} pairs (more than report_max_pairs); failures are listed in full"
    return report


def _href(up: str, key: str) -> str:
    # A key is not a URL: '#', '?', '%' and spaces in it must be %-encoded, or the browser reads
    # a fragment, a query or an escape (composite keys contain '%2F', worker/keys.py).
    return up + urllib.parse.quote(key, safe="/")


def contact_sheet_html(report: dict, plan: Plan) -> str:
    """Customers × garments grid of thumbnails; links are relative to runs/<id>/index.html, so
    the page works from the bucket (static website / any S3 browser) and from a local copy."""
    up = "../" * (len(plan.prefixes.runs.strip("/").split("/")) + 1)
    by_pair = {(p["customer"], p["garment"]): p for p in report.get("pairs", [])}
    customers = sorted({p["customer"] for p in report.get("pairs", [])})
    garments = sorted({p["garment"] for p in report.get("pairs", [])})
    e = html.escape
    c = report["counts"]
    rows = []
    for cust in customers:
        cells = [f"<th>{e(posixpath.basename(cust))}</th>"]
        for g in garments:
            p = by_pair.get((cust, g))
            if p is None:
                cells.append('<td class="none">up to date<br>(not in this run)</td>')
            elif p["status"] == "failed":
                cells.append(f'<td class="failed">failed<br><small>{e(p.get("reason", ""))}</small></td>')
            else:
                href = e(_href(up, p["composite"]), quote=True)
                review = p.get("qa", {}).get("status") == "needs_review"
                note = "needs review: " + "; ".join(p["qa"]["reasons"]) if review else p["status"]
                cells.append(f'<td class="{"review" if review else e(p["status"])}"><a href="{href}"><img src="{href}" '
                             f'loading="lazy" alt="{e(p["composite"])}"></a><br><small>{e(note)}</small></td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    head = "<tr><th></th>" + "".join(f"<th>{e(posixpath.basename(g))}</th>" for g in garments) + "</tr>"
    invalid = "".join(f"<li>{e(i['key'])}: {e(i['reason'])}</li>" for i in report.get("invalid", []))
    # flagged pairs first: a thumbnail and the QA's reasons each
    review = "".join(
        f'<div class="review"><a href="{e(_href(up, f["composite"]), quote=True)}"><img src="{e(_href(up, f["composite"]), quote=True)}" '
        f'loading="lazy" alt="{e(f["composite"])}"></a><br><small>{e(posixpath.basename(f["customer"]))} × '
        f'{e(posixpath.basename(f["garment"]))}: {e("; ".join(f["reasons"]))}</small></div>'
        for f in report.get("needs_review", []))
    omitted = f"<p>{e(report['pairs_omitted'])}</p>" if "pairs_omitted" in report else ""
    prune = report.get("prune") or {}
    pruned = (f"{c.get('pruned', 0)} composites of removed garments or customers pruned"
              f" ({e(prune.get('status', ''))})")
    redacted = report.get("redacted")
    if redacted:
        omitted += (f"<p>{redacted['customers']} forgotten customer(s) removed from this page "
                    f"({redacted['pairs']} pairs; the counts above still include them).</p>")
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Try-on run {e(report['run_id'])}</title>
<style>body{{font-family:sans-serif}} td,th{{border:1px solid #ccc;padding:4px;text-align:center;vertical-align:top}}
img{{height:160px}} .failed{{background:#fdd}} .none{{color:#888}} table{{border-collapse:collapse}}
.review{{background:#fec}} div.review{{display:inline-block;width:180px;margin:4px;vertical-align:top}}</style></head>
<body><h1>Try-on run {e(report['run_id'])}</h1>
<p>bucket <b>{e(report['bucket'])}</b>, chain <b>{e(report['chain'])}</b>, finished {e(report['finished'])}:
{c['rendered']} rendered ({c.get('needs_review', 0)} to review), {c['pairs_up_to_date'] + c['skipped_by_worker']} up
to date, {c['failed']} failed, {c['invalid_inputs']} invalid inputs; {pruned}.</p>
{'<h2>Needs review</h2>' + review if review else ''}
{omitted}<table>{head}{''.join(rows)}</table>
{'<h2>Invalid inputs</h2><ul>' + invalid + '</ul>' if invalid else ''}
</body></html>
"""
