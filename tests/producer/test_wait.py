"""`python -m producer --wait` (producer.__main__.wait_run) through a Redis outage, and with no
worker consuming the queue: it keeps waiting, says so, and returns once the run finishes."""
from __future__ import annotations

import io
import threading
import time

import redis

from chaos.fault_proxy import TcpCutProxy
from worker.runs import RunBook, new_run_id


def test_wait_rides_out_a_redis_outage_and_says_no_worker_consumes_the_queue(stack, redis_client, batch_settings,
                                                                             celery_client):
    from producer.__main__ import wait_run

    port = int(stack.redis_url.rsplit(":", 1)[1].split("/")[0])
    proxy = TcpCutProxy(("127.0.0.1", port)).start()
    try:
        # the waiter's Redis goes through the proxy; no retries in the client: the waiter itself must cope
        from redis.backoff import NoBackoff
        from redis.retry import Retry
        client = redis.Redis(port=proxy.port, socket_connect_timeout=1, socket_timeout=2, retry=Retry(NoBackoff(), 0))
        run_id = new_run_id()
        book = RunBook(client, run_id)
        RunBook(redis_client, run_id).r.hset(f"tryon:run:{run_id}", mapping={
            "state": "running", "bucket": "b", "chunks_total": 1, "pairs_to_render": 1})
        resends = []
        s = batch_settings("b", queue=f"nobody-consumes-{run_id}")
        out = io.StringIO()

        def outage_then_finish():
            time.sleep(1.0)
            proxy.cut(4.0)                       # Redis unreachable for the waiter for 4 s
            time.sleep(6.0)
            redis_client.hset(f"tryon:run:{run_id}", mapping={"state": "finished", "rendered": 1,
                                                              "chunks_done": 1})

        t = threading.Thread(target=outage_then_finish)
        t.start()
        st = wait_run(book, s, total=1, timeout=60, poll=0.2, out=out, check_workers_every=0.5,
                      resend_lost=resends.append, celery_app=celery_client)
        t.join()
    finally:
        proxy.stop()
    text = out.getvalue()
    assert st["state"] == "finished" and st["rendered"] == 1
    assert "unreachable" in text and "still waiting" in text and "reachable again" in text, text
    assert f"no worker is consuming queue 'nobody-consumes-{run_id}'" in text, text
    assert resends  # the waiter kept looking for lost chunks
