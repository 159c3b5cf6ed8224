"""chaos/fault_proxy.py between botocore and SeaweedFS: every fault kind injected, retried
through, reproducible for a seed, and every accepted PUT recorded."""
from __future__ import annotations

import uuid


def _s3(endpoint: str, attempts: int = 10):
    import boto3
    from botocore.config import Config

    from worker.local_stack import S3_ACCESS_KEY, S3_SECRET_KEY

    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=S3_ACCESS_KEY,
                        aws_secret_access_key=S3_SECRET_KEY, region_name="us-east-1",
                        config=Config(retries={"mode": "standard", "max_attempts": attempts}))


def _proxy_session(stack, plan, n=25):
    """n PUT/HEAD/GET round trips through a fresh proxy; returns (proxy stats, PUT log, bytes ok)."""
    import hashlib

    from chaos.fault_proxy import FaultProxy

    host, port = stack.direct_s3_endpoint.rsplit("//", 1)[1].split(":")
    bucket = f"proxy-{uuid.uuid4().hex[:6]}"
    stack.s3_direct().create_bucket(Bucket=bucket)
    with FaultProxy((host, int(port)), plan) as proxy:
        s3 = _s3(proxy.endpoint)
        ok = True
        for i in range(n):
            body = f"object {i} ".encode() * (50 + i)
            s3.put_object(Bucket=bucket, Key=f"k/{i}.bin", Body=body, Metadata={"n": str(i)})
            ok &= s3.head_object(Bucket=bucket, Key=f"k/{i}.bin")["Metadata"]["n"] == str(i)
            ok &= s3.get_object(Bucket=bucket, Key=f"k/{i}.bin")["Body"].read() == body
        puts = proxy.puts_by_path(f"/{bucket}/k/")
        expected = {f"/{bucket}/k/{i}.bin": hashlib.sha256(f"object {i} ".encode() * (50 + i)).hexdigest()
                    for i in range(n)}
        return proxy.stats(), puts, expected, ok


def test_fault_proxy_injects_every_fault_kind_and_botocore_gets_through(chaos_stack):
    from chaos.fault_proxy import FaultPlan

    plan = FaultPlan(error_500=0.06, error_503=0.06, reset=0.06, delay=0.06, delay_seconds=(0.01, 0.05), seed=11)
    stats, puts, expected, ok = _proxy_session(chaos_stack, plan)
    assert ok, "a body or metadata came back wrong through the proxy"
    for kind in ("error_500", "error_503", "reset", "delay"):
        assert stats[kind] > 0, (kind, stats)
    assert stats["injected_failures"] / stats["requests"] >= 0.1
    assert stats["forwarded"] == 75  # every call got through exactly once in the end
    # the PUT log holds exactly what the server accepted: one PUT per key, with the right content
    assert {k: v for k, v in puts.items()} == {k: [v] for k, v in expected.items()}


def test_fault_proxy_is_reproducible_for_a_seed(chaos_stack):
    from chaos.fault_proxy import FaultPlan

    plan = FaultPlan(error_500=0.05, error_503=0.05, reset=0.05, seed=5)
    first, *_ = _proxy_session(chaos_stack, plan, n=10)
    second, *_ = _proxy_session(chaos_stack, plan, n=10)
    assert first == second and first["injected_failures"] > 0
