"""`make models` (models/weights/fetch.py) against a local HTTP server: present, wrong checksum,
404; and the list it fetches, derived from the stages' declared weights."""
import functools
import hashlib
import http.server
import threading

import pytest

from models.weights import fetch
from models.weights import WeightFile


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)  # port picked by the OS
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=10)


def test_fetch_reports_absent_files_and_strict_fails(server, tmp_path, monkeypatch, capsys):
    root, base = server
    (root / "good.bin").write_bytes(b"weights" * 100)
    (root / "tampered.bin").write_bytes(b"other bytes")
    good_hash = hashlib.sha256(b"weights" * 100).hexdigest()
    weights = [
        WeightFile("good.bin", f"sha256:{good_hash}", url=f"{base}/good.bin"),
        WeightFile("tampered.bin", f"sha256:{good_hash}", url=f"{base}/tampered.bin"),
        WeightFile("gone.bin", f"sha256:{good_hash}", url=f"{base}/gone.bin"),
        WeightFile("wheel_only.tflite", None, wheel_member="x/y.tflite"),  # not a URL file: skipped here
    ]
    target = tmp_path / "weights"
    monkeypatch.setenv("TRYON_WEIGHTS_DIR", str(target))

    missing = dict(fetch.fetch_url_files(weights))
    assert set(missing) == {"tampered.bin", "gone.bin"}
    assert (target / "good.bin").read_bytes() == b"weights" * 100
    assert not (target / "tampered.bin").exists()  # a checksum mismatch leaves nothing behind

    monkeypatch.setattr(fetch, "FETCHERS", [lambda declared: fetch.fetch_url_files(weights)])
    assert fetch.main([]) == 0
    out = capsys.readouterr().out
    assert "absent: tampered.bin (" in out and "absent: gone.bin (" in out and "absent: good.bin" not in out
    assert fetch.main(["--strict"]) == 1


def test_fetch_strict_passes_when_everything_is_there(server, tmp_path, monkeypatch):
    root, base = server
    (root / "a.bin").write_bytes(b"a")
    weights = [WeightFile("a.bin", "sha256:" + hashlib.sha256(b"a").hexdigest(), url=f"{base}/a.bin")]
    monkeypatch.setenv("TRYON_WEIGHTS_DIR", str(tmp_path / "w"))
    monkeypatch.setattr(fetch, "FETCHERS", [lambda declared: fetch.fetch_url_files(weights)])
    assert fetch.main(["--strict"]) == 0


def test_the_fetch_list_is_every_stages_declared_files(monkeypatch):
    from models.chain import declared_weights

    seen = []
    monkeypatch.setattr(fetch, "FETCHERS", [lambda declared: seen.extend(declared) or []])
    assert fetch.main([]) == 0
    assert seen == declared_weights()
    names = {w.name: w for w in seen if w.url}
    assert set(names) == {"openpose_pose_coco.prototxt", "openpose_pose_coco.caffemodel", "lip_jppnet_384.pb",
                          "cp_vton_gmm.onnx", "cp_vton_tom.onnx"}
    assert all(w.url for w in names.values())
    assert names["openpose_pose_coco.caffemodel"].known_hash == "sha1:ac7e97da66f3ab8169af2e601384c144e23a95c1"
    assert names["openpose_pose_coco.prototxt"].known_hash is None  # the only file without a checksum
