"""The content-keyed LRU cache (models/cache.py)."""
import numpy as np

from models.cache import ContentCache, clear_all, content_key


def test_keyed_by_content_not_identity():
    cache = ContentCache(4)
    image = np.arange(12, dtype=np.uint8).reshape(3, 4)
    calls = []
    first = cache.get_or_compute((image, None), lambda: calls.append(1) or "analysed")
    assert cache.get_or_compute((image.copy(), None), lambda: calls.append(1) or "again") == first
    assert calls == [1]
    # other bytes, another shape of the same bytes, another dtype, or a mask instead of None: new keys
    keys = {content_key((image, None)), content_key((image + 1, None)), content_key((image.reshape(4, 3), None)),
            content_key((image.astype(np.int8), None)), content_key((image, image))}
    assert len(keys) == 5


def test_least_recently_used_goes_first():
    cache = ContentCache(2)
    a, b, c = (content_key((np.full(3, v),)) for v in range(3))
    cache.put(a, "a")
    cache.put(b, "b")
    assert cache.get(a) == "a"      # a is now the most recent
    cache.put(c, "c")
    assert cache.get(b) is None and cache.get(a) == "a" and len(cache) == 2


def test_clear_and_clear_all():
    one, two = ContentCache(2), ContentCache(2)
    key = content_key((np.zeros(2),))
    one.put(key, 1)
    two.put(key, 2)
    one.clear()
    assert len(one) == 0 and two.get(key) == 2
    clear_all()
    assert len(two) == 0
