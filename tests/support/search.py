"""Where does a string still appear? Every object of a bucket (key, metadata, body) and every
Redis key and value (all types), for the tests of forgetting a customer."""
from __future__ import annotations


def _hits(text: str, needles) -> list[str]:
    return [n for n in needles if n in text]


def mentions_in_bucket(st, needles) -> list[str]:
    """['<key>: <where> mentions <needle>', …] over every object of the bucket."""
    found = []
    for obj in st.list(""):
        got = st.get(obj.key)
        for where, text in (("key", obj.key), ("metadata", repr(got.metadata)),
                            ("body", got.body.decode("utf-8", errors="replace"))):
            found += [f"{obj.key}: {where} mentions {n!r}" for n in _hits(text, needles)]
    return found


def redis_dump(client) -> dict[str, str]:
    """key → its value as text, for every key in the database."""
    out = {}
    for key in client.scan_iter(count=1000):
        kind = client.type(key).decode()
        if kind == "string":
            value = client.get(key)
        elif kind == "hash":
            value = client.hgetall(key)
        elif kind == "set":
            value = sorted(client.smembers(key))
        elif kind == "list":
            value = client.lrange(key, 0, -1)
        elif kind == "zset":
            value = client.zrange(key, 0, -1, withscores=True)
        elif kind == "stream":
            value = client.xrange(key)
        else:
            value = kind
        out[key.decode("utf-8", errors="replace")] = repr(value)
    return out


def mentions_in_redis(client, needles) -> list[str]:
    found = []
    for key, value in redis_dump(client).items():
        found += [f"redis {key}: mentions {n!r}" for n in _hits(key + value, needles)]
    return found
