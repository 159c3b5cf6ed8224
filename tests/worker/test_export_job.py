"""worker/export_job.py without a broker: the plan and its items, the bookkeeping on the real
Redis (items counted once, the report written once, lost items found and sent again, one export
per layout and bucket), and one item's work on a SeaweedFS bucket with a chain stand-in that returns a
real Person (the e2e test runs the real chain on real workers)."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from models.chain import frame_person
from models.contract import BodyLayout, ChainOptions, Person
from models.labels import Coco, Lip
from worker.export_job import ExportBook, ExportInput, ExportLock, ExportPlan, export_item, item_failed
from worker.person_cache import PersonCache
from worker.runs import new_run_id


def _plan(persons=("customers/ann.jpg", "customers/bob.jpg"), garments=5, chunk=2, **fields) -> ExportPlan:
    layout = fields.pop("layout", "cp-vton")
    return ExportPlan(run_id=fields.pop("run_id", new_run_id()), bucket="unit", layout=layout,
                      split="test", chain="test-chain", created="now", customers_prefix="customers/",
                      catalogue_prefix="catalogue/", root=f"export/{layout}/",
                      persons=[ExportInput(k, "e", 1, k.split("/")[1].split(".")[0]) for k in persons],
                      garments=[ExportInput(f"catalogue/g{i}.png", "e", 1, f"g{i}") for i in range(garments)],
                      chunk_size=chunk, **fields)


def test_plan_items_json_and_what_flower_shows():
    plan = _plan()
    assert plan.items() == ["p0", "p1", "g0-2", "g2-4", "g4-5"]
    assert plan.framing == "person"                                          # the default
    assert ExportPlan.from_json(json.loads(json.dumps(plan.to_json()))) == plan
    centre = _plan(framing="centre")
    assert ExportPlan.from_json(json.loads(json.dumps(centre.to_json()))).framing == "centre"
    assert plan.describe("p1") == "customers/bob.jpg" and plan.describe("g2-4") == "garments 2-3 of 5"
    assert plan.key("test/image/ann.jpg") == "export/cp-vton/test/image/ann.jpg"
    assert [r["key"] for r in item_failed(plan, "g0-2", "boom")] == ["catalogue/g0.png", "catalogue/g1.png"]


@pytest.fixture
def s3(storage_for, bucket):
    """A fresh bucket on the session's SeaweedFS."""
    return storage_for(bucket)


def _result(key, name, kind, ok=True):
    return {"key": key, "name": name, "kind": kind, "status": "exported" if ok else "failed", "files": [],
            **({} if ok else {"reason": f"{key}: bad"})}


def test_items_count_once_and_the_report_is_written_once(redis_client, s3):
    plan = _plan(garments=2, chunk=2)
    book = ExportBook(redis_client, plan.run_id, ttl=60)
    book.create(plan)
    lock = ExportLock(redis_client, "unit", "cp-vton")
    assert lock.acquire(plan.run_id, 60) is None
    assert ExportLock(redis_client, "unit", "cp-vton").acquire("another", 60) == plan.run_id   # one at a time
    assert book.transition("enqueuing", "running")
    assert book.record("p0", [_result("customers/ann.jpg", "ann", "person")])
    assert not book.record("p0", [_result("customers/ann.jpg", "ann", "person")])              # re-delivered
    assert book.try_finalize(s3) is None                                                      # not complete
    book.record("p1", [_result("customers/bob.jpg", "bob", "person", ok=False)])
    book.record("g0-2", [_result("catalogue/g0.png", "g0", "garment"), _result("catalogue/g1.png", "g1", "garment")])
    st = book.status()
    assert (st["items_done"], st["exported"], st["failed"]) == (3, 3, 1)
    report = book.try_finalize(s3)
    assert report["counts"]["pairs"] == 2 and report["failures"] == [{"key": "customers/bob.jpg",
                                                                      "reason": "customers/bob.jpg: bad"}]
    assert book.try_finalize(s3) is None                                                      # once
    assert s3.get("export/cp-vton/test_pairs.txt").body == b"ann.jpg g0.jpg\nann.jpg g1.jpg\n"
    assert s3.get_json("export/cp-vton/report.json")["run_id"] == plan.run_id
    assert book.status()["state"] == "finished" and not book.transition("enqueuing", "running")
    assert ExportLock(redis_client, "unit", "cp-vton").acquire("next", 60) is None            # released


def test_lost_items_are_sent_again_once_the_export_stalls_with_an_empty_queue(redis_client):
    plan = _plan()
    book = ExportBook(redis_client, plan.run_id, ttl=60)
    book.create(plan)
    book.transition("enqueuing", "running")
    book.record("p0", [_result("customers/ann.jpg", "ann", "person")])
    sent = []
    send = lambda p, item: sent.append(item)  # noqa: E731
    now = float(book.status()["progress_at"])
    assert book.resend_lost(send, stalled_after=30, queue_length=lambda: 0, now=now + 10) == 0   # not stalled
    assert book.resend_lost(send, stalled_after=30, queue_length=lambda: 3, now=now + 60) == 0   # still queued
    assert book.resend_lost(send, stalled_after=30, queue_length=lambda: 0, now=now + 60) == 4
    assert sent == ["p1", "g0-2", "g2-4", "g4-5"] and book.status()["items_resent"] == 4


class _Chain:
    """prepare_person with a real Person (pose and parsing of an upright person), counted, with
    the options it was given; the real frame_person (a centre-framed Person: unchanged)."""

    frame_person = staticmethod(frame_person)

    def __init__(self):
        self.calls = 0
        self.options = []

    def prepare_person(self, photo, options=None, name=None):
        self.calls += 1
        self.options.append(options)
        h, w = photo.shape[:2]
        k = np.zeros((18, 3), np.float32)
        for i, xy in {Coco.NECK: (96, 70), Coco.R_SHOULDER: (66, 72), Coco.L_SHOULDER: (126, 72),
                      Coco.R_HIP: (78, 160), Coco.L_HIP: (114, 160)}.items():
            k[i] = (*xy, 0.9)
        parse = np.zeros((256, 192), np.uint8)
        parse[72:160, 66:126] = Lip.UPPER_CLOTHES
        return Person(photo=photo, crop_box=(0, 0, w, h), keypoints=k, parse=parse,
                      stages={"pose": {"impl": "test"}, "parsing": {"impl": "test"}})


def test_a_person_item_uses_the_cache_and_writes_its_files(redis_client, s3):
    s3.put("customers/ann.jpg", cv2.imencode(".jpg", np.full((1024, 768, 3), 90, np.uint8))[1].tobytes(), "image/jpeg")
    s3.put("customers/bob.jpg", b"\xff\xd8 broken", "image/jpeg")
    plan = _plan(layout="viton-hd", garments=0)
    cache = PersonCache(redis_client, ttl=60, namespace=f"test:person:{new_run_id()}")
    chain = _Chain()
    options = ChainOptions(mode="geometric", framing="centre")
    [first] = export_item(s3, cache, chain, plan, "p0", "v1", 10**7, options)
    [again] = export_item(s3, cache, chain, plan, "p0", "v1", 10**7, options)
    assert chain.calls == 1 and (first["person_cached"], again["person_cached"]) == (False, True)
    assert chain.options == [options]                        # prepared with the options given for the framing
    assert first["files"] == again["files"] and "test/openpose-json/ann_keypoints.json" in first["files"]
    doc = s3.get_json("export/viton-hd/test/openpose-json/ann_keypoints.json")
    assert len(doc["people"][0]["pose_keypoints_2d"]) == 75
    assert any("feet" in n for n in first["notes"])          # the stand-in gave no BlazePose landmarks
    [bad] = export_item(s3, cache, chain, plan, "p1", "v1", 10**7)
    assert bad["status"] == "failed" and bad["reason"] == "customers/bob.jpg: not a decodable image"


def test_a_person_the_framing_refuses_fails_with_its_key(redis_client, s3):
    """Framing "person": the cached Person is framed for the export (an upper garment's working
    crop); a photo without the shoulders in it fails alone, named by its key."""
    s3.put("customers/ann.jpg", cv2.imencode(".jpg", np.full((300, 400, 3), 90, np.uint8))[1].tobytes(), "image/jpeg")

    class HeadOnly(_Chain):
        def prepare_person(self, photo, options=None, name=None):
            person = super().prepare_person(photo, options, name)
            person.framing = "person"
            person.layout = BodyLayout(photo_hw=(300, 400), extent=(100, 0, 300, 300),
                                       points={"l_shoulder": (250, 320, 0.3), "r_shoulder": (150, 320, 0.3)})
            return person

    plan = _plan(layout="cp-vton", garments=0)
    cache = PersonCache(redis_client, ttl=60, namespace=f"test:person:{new_run_id()}")
    [result] = export_item(s3, cache, HeadOnly(), plan, "p0", "v1", 10**7)
    assert result["status"] == "failed"
    assert result["reason"].startswith("customers/ann.jpg: too little of the body for an upper garment"), result
    assert not list(s3.list("export/"))
