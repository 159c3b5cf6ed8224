"""End to end: SeaweedFS + Redis + a real Celery worker (2 processes) running the real chain,
driven by the producer CLI (`python -m producer --wait`) as a user would.

3 customers × 4 garments → 12 composites and a correct report; a second run enqueues
nothing; replacing one garment re-renders only its 3 pairs; a re-delivered task writes
nothing new; a forced run writes byte-identical composites; a corrupt photo fails only its
own pairs, with a readable reason, and the worker carries on.
"""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from scripts import demo_inputs
from tests.support.producer_cli import produce as run_producer
from worker.plan import fingerprint
from worker.storage import Storage

pytestmark = pytest.mark.slow

CUSTOMERS = ["astronaut", "astronaut-mirrored", "astronaut-reframed"]
GARMENTS = ["red-tee", "navy-tee", "striped-tee", "logo-tee"]




@pytest.fixture(scope="module")
def e2e(stack, worker_proc, s3_client, storage_for, chain_ready):
    bucket = "e2e-tryon"
    s3_client.create_bucket(Bucket=bucket)
    st = storage_for(bucket)
    people, cloth = demo_inputs.customers(), demo_inputs.garments()
    for name in CUSTOMERS:
        st.put(f"customers/{name}.jpg", demo_inputs.encode(people[name]), "image/jpeg")
    for name in GARMENTS:
        st.put(f"catalogue/{name}.png", demo_inputs.encode(cloth[name], ".png"), "image/png")
    st.put("customers/notes.txt", b"not a photo", "text/plain")
    return {"stack": stack, "storage": st, "bucket": bucket, "chain": chain_ready, "worker": worker_proc, "runs": []}


def produce(e2e, *extra) -> tuple[int, str, dict]:
    rc, out, counts, report = run_producer(e2e, *extra)
    return rc, out, {"counts": counts, "report": report}


def composites(st: Storage) -> dict[str, str]:
    return {o.key: o.etag for o in st.list("tryon/") if o.key.endswith(".jpg")}


def test_first_run_renders_every_pair(e2e):
    st = e2e["storage"]
    rc, out, run = produce(e2e)
    assert rc == 0, out
    assert run["counts"] == {"run": run["counts"]["run"], "to_render": 12, "skipped": 0, "invalid": 1}
    report = run["report"]
    assert report["counts"]["rendered"] == 12 and report["counts"]["failed"] == 0 and report["ok"]
    assert report["invalid"] == [{"key": "customers/notes.txt",
                                  "reason": "'customers/notes.txt': not an image (extension not one of "
                                            ".jpg, .jpeg, .png, .webp, .bmp, .tif, .tiff)"}]
    expected = {f"tryon/{c}/{g}.jpg" for c in CUSTOMERS for g in GARMENTS}
    assert set(composites(st)) == expected
    assert {p["composite"] for p in report["pairs"]} == expected

    inputs = {o.key: o.etag for o in st.list("")}
    for c in CUSTOMERS:
        photo = demo_inputs.customers()[c]
        for g in GARMENTS:
            obj = st.get(f"tryon/{c}/{g}.jpg")
            image = cv2.imdecode(np.frombuffer(obj.body, np.uint8), cv2.IMREAD_COLOR)
            assert image.shape == photo.shape  # pasted back into the customer's photo
            meta = obj.metadata
            assert meta["tryon-fingerprint"] == fingerprint(inputs[f"customers/{c}.jpg"],
                                                            inputs[f"catalogue/{g}.png"], e2e["chain"])
            assert meta["tryon-chain"] == e2e["chain"] and meta["tryon-run"] == report["run_id"]
            assert "pose=" in meta["tryon-stages"] and "render=" in meta["tryon-stages"]
            assert set(json.loads(meta["tryon-timings"])) >= {"warp", "render"}
        index = st.get_json(f"tryon/{c}/_index.json")
        assert sorted(index["composites"]) == sorted(f"catalogue/{g}.png" for g in GARMENTS)
    page = st.get(f"runs/{report['run_id']}/index.html").body.decode()
    # one thumbnail per pair, and the pairs the QA flagged once more at the top, with their reasons
    flagged = report["counts"]["needs_review"]
    assert page.count("<img ") == 12 + flagged and 'src="../../tryon/astronaut/red-tee.jpg"' in page
    assert len(report["needs_review"]) == flagged and all(f["reasons"] for f in report["needs_review"])
    assert {p["qa"]["status"] for p in report["pairs"]} <= {"ok", "needs_review"}
    assert st.get_json(f"runs/{report['run_id']}/plan.json")["run_id"] == report["run_id"]


def test_second_run_enqueues_nothing(e2e):
    before = composites(e2e["storage"])
    rc, out, run = produce(e2e)
    assert rc == 0, out
    assert run["counts"]["to_render"] == 0 and run["counts"]["skipped"] == 12
    assert run["report"]["counts"]["rendered"] == 0 and run["report"]["pairs"] == []
    assert composites(e2e["storage"]) == before


def test_replacing_a_garment_rerenders_only_its_pairs(e2e):
    st = e2e["storage"]
    before = composites(st)
    st.put("catalogue/red-tee.png", demo_inputs.encode(demo_inputs.garment("stripes", (40, 40, 200)), ".png"),
           "image/png")
    rc, out, run = produce(e2e)
    assert rc == 0, out
    assert run["counts"]["to_render"] == 3 and run["counts"]["skipped"] == 9
    assert sorted(p["composite"] for p in run["report"]["pairs"]) == sorted(f"tryon/{c}/red-tee.jpg" for c in CUSTOMERS)
    after = composites(st)
    changed = {k for k in after if after[k] != before[k]}
    assert changed == {f"tryon/{c}/red-tee.jpg" for c in CUSTOMERS}


def test_redelivered_task_writes_nothing_new(e2e, celery_client):
    """The first run's message again (as after a lost ack), although one of its garments has
    been replaced since: every pair is found up to date, nothing is written."""
    st = e2e["storage"]
    plan = st.get_json(f"runs/{e2e['runs'][0]}/plan.json")
    before = composites(st)
    result = celery_client.send_task("tryon.render_customer", queue="tryon",
                           kwargs={"run": plan["run_id"], "customer": 0, "garments": [[0, 4]], "chunk": "c0:0-4"})
    assert result.get(timeout=120) == {"run": plan["run_id"], "chunk": "c0:0-4", "rendered": 0, "skipped": 4,
                                       "failed": 0}
    assert composites(st) == before


def test_a_chunk_that_keeps_coming_back_is_given_up(e2e, redis_client, celery_client):
    """A message re-delivered after every worker loss (OOM on one photo) stops after a few tries."""
    from worker.tasks import MAX_EXECUTIONS
    st = e2e["storage"]
    run_id = e2e["runs"][0]
    redis_client.hset(f"tryon:run:{run_id}:executions", "c0:poison", MAX_EXECUTIONS)
    before = composites(st)
    result = celery_client.send_task("tryon.render_customer", queue="tryon",
                                     kwargs={"run": run_id, "customer": 0, "garments": [[0, 1]], "chunk": "c0:poison"})
    assert result.get(timeout=120)["failed"] == 1
    chunk = json.loads(redis_client.hget(f"tryon:run:{run_id}:chunks", "c0:poison"))
    assert "gave up after" in chunk["pairs"][0]["reason"]
    assert composites(st) == before


def test_forced_run_is_deterministic(e2e):
    before = composites(e2e["storage"])
    rc, out, run = produce(e2e, "--force")
    assert rc == 0, out
    assert run["counts"]["to_render"] == 12 and run["report"]["counts"]["rendered"] == 12
    after = composites(e2e["storage"])
    assert after == before, f"a re-render produced different bytes: {sorted(k for k in after if after[k] != before.get(k))}"


def test_corrupt_photo_fails_only_its_pairs(e2e):
    st = e2e["storage"]
    before = composites(st)
    st.put("customers/corrupt.jpg", b"\xff\xd8\xff\xe0 this is not really a JPEG" * 10, "image/jpeg")
    rc, out, run = produce(e2e)
    assert rc == 1, out  # a pair failed
    assert run["counts"]["to_render"] == 4 and run["counts"]["skipped"] == 12
    failures = run["report"]["failures"]
    assert len(failures) == 4 and run["report"]["counts"]["failed"] == 4
    assert {f["customer"] for f in failures} == {"customers/corrupt.jpg"}
    assert all(f["reason"] == "customers/corrupt.jpg: not a decodable image" for f in failures)
    assert "failed: customers/corrupt.jpg × catalogue/logo-tee.png: customers/corrupt.jpg: not a decodable image" in out
    assert composites(st) == before
    assert e2e["worker"].alive()


def test_a_customer_split_over_concurrent_tasks_is_prepared_once(e2e):
    """4 one-garment tasks for a new customer on 2 worker processes: pose + parsing run once
    (single flight through the Redis lock); the other tasks read the cached Person."""
    st = e2e["storage"]
    st.client.delete_object(Bucket=e2e["bucket"], Key="customers/corrupt.jpg")
    photo = cv2.resize(demo_inputs.astronaut_bgr(), (448, 448), interpolation=cv2.INTER_AREA)
    st.put("customers/solo.jpg", demo_inputs.encode(photo), "image/jpeg")
    rc, out, run = produce(e2e, "--chunk-size", "1")
    assert rc == 0, out
    pairs = run["report"]["pairs"]
    assert len(pairs) == 4 and {p["customer"] for p in pairs} == {"customers/solo.jpg"}
    assert sorted(p["person_cached"] for p in pairs) == [False, True, True, True]
    computed = [p for p in pairs if not p["person_cached"]][0]
    assert computed["timings"]["person"] > 0 and all(p["timings"]["person"] == 0 for p in pairs if p["person_cached"])


def test_a_message_the_broker_lost_is_sent_again_once_the_run_stalls(e2e, s3_client, redis_client, celery_client,
                                                                       storage_for, batch_settings):
    """Redis can lose a message in flight (kombu's BRPOP, then a separate 'unacked' write;
    found by the chaos Redis-restart test, where one chunk of 8 was never delivered and the run
    never finished). Here the producer's send drops one chunk outright; the waiter finds the
    run stalled with an empty queue and sends the missing chunk again, once."""
    from producer.enqueue import start_run
    from worker.runs import RunBook, wait_for
    from worker.tasks import resend_lost

    stack = e2e["stack"]
    bucket = "e2e-lost-message"
    s3_client.create_bucket(Bucket=bucket)
    st = storage_for(bucket)
    st.put("customers/astronaut.jpg", demo_inputs.encode(demo_inputs.customers()["astronaut"]), "image/jpeg")
    cloth = demo_inputs.garments()
    for name in GARMENTS[:3]:
        st.put(f"catalogue/{name}.png", demo_inputs.encode(cloth[name], ".png"), "image/png")

    queue = stack.env.get("TRYON_QUEUE", "tryon")
    sent, dropped = [], []

    def send(call):
        celery_client.send_task(call.task, kwargs=call.kwargs, kwargsrepr=call.kwargsrepr, queue=queue,
                                ignore_result=True)
        sent.append(call.kwargs["chunk"])

    def lossy_send(call):
        if len(sent) + len(dropped) == 1:  # the broker "loses" the second message
            dropped.append(call.kwargs["chunk"])
        else:
            send(call)

    run = start_run(st, redis_client, batch_settings(bucket, chunk_size=1), lossy_send)
    assert run["chunks"] == 3 and len(dropped) == 1
    book = RunBook(redis_client, run["run_id"])
    assert book.unrecorded_chunks() != []

    status = wait_for(book, timeout=180, poll=0.3, resend_lost=lambda b: resend_lost(
        b, send=send, celery_app=celery_client, queue=queue, stalled_after=3))
    assert status["chunks_resent"] == 1 and sent.count(dropped[0]) == 1
    report = st.get_json(f"runs/{run['run_id']}/report.json")
    assert report["counts"]["rendered"] == 3 and report["counts"]["failed"] == 0
    assert report["counts"]["chunks_resent"] == 1
    assert {p["status"] for p in report["pairs"]} == {"rendered"}
    assert redis_client.exists(f"tryon:run:{run['run_id']}:sent") == 0  # cleaned up with the report
