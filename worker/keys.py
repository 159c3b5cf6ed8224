"""The bucket's naming: which keys may be read or written, where composites, indexes and run
files go, and the metadata a composite carries. (A run's plan applies these to its pairs:
worker/plan.py.)

Layout (prefixes from worker/config.py):
    catalogue/<garment>.<ext>               garments
    customers/<customer>.<ext>              customer photos
    tryon/<customer>/<garment>.jpg          composites (metadata: see composite_metadata)
    tryon/<customer>/_index.json            per-customer index of composite fingerprints

<customer> is the customer's name (its key under customers/ without the extension) as ONE path
segment: '%' → '%25', '/' → '%2F' (customers/team/alice.jpg → tryon/team%2Falice/). Without
that, customer 'alice' × garment 'bob/shirt' and customer 'alice/bob' × garment 'shirt' shared
tryon/alice/bob/shirt.jpg. <garment> keeps its folders ('%' → '%25'). A name too long for the
store's key limit is shortened to a readable head + '%h' + a hash of the whole name ('%h' never
occurs in an escaped name, so shortened names cannot meet readable ones): (customer, garment)
→ key is one-to-one and every key fits (`customer_segment`, `garment_part`).
    runs/<run-id>/plan.json | report.json | index.html
"""
from __future__ import annotations

import hashlib
import json
import posixpath
import urllib.parse

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
INDEX_NAME = "_index.json"
MAX_KEY_BYTES = 900  # S3 allows 1024; the composite key joins two names under a prefix
# Budgets of the composite key's two parts: with the output prefix, ".jpg" and "/" they stay
# under MAX_KEY_BYTES (see `composite_budget`). A path segment stays under 255 bytes, the
# usual file-name limit of stores backed by a file system.
SEGMENT_MAX_BYTES = 240
CUSTOMER_SEGMENT_MAX = 240
SHORT_HEAD_BYTES = 100   # readable head kept of a shortened name
_HASH_MARK = "%h"        # never produced by _escape (every escaped '%' is followed by 2 hex digits)


class InvalidKeyError(ValueError):
    """A key that must not be read or written (reported, never rendered)."""


def validate_key(key: str, prefix: str) -> str:
    """Return `key` if it is a safe object key under `prefix`, else raise InvalidKeyError."""
    if not isinstance(key, str) or not key:
        raise InvalidKeyError(f"{key!r}: empty key")
    if any(ord(c) < 32 or ord(c) == 127 for c in key):
        raise InvalidKeyError(f"{key!r}: control character in key")
    if key.startswith("/") or "\\" in key:
        raise InvalidKeyError(f"{key!r}: absolute or backslash path")
    parts = key.split("/")
    if any(p in ("..", ".") for p in parts):
        raise InvalidKeyError(f"{key!r}: '.' or '..' path segment")
    if "" in parts[:-1]:
        raise InvalidKeyError(f"{key!r}: empty path segment ('//')")
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise InvalidKeyError(f"{key!r}: longer than {MAX_KEY_BYTES} bytes")
    # normpath would fold "a/../b"; we already refused "..", so this only guards the prefix.
    if not key.startswith(prefix) or posixpath.normpath(key) != key.rstrip("/") or key == prefix:
        raise InvalidKeyError(f"{key!r}: not under {prefix!r}")
    return key


def is_image_key(key: str) -> bool:
    return key.lower().endswith(IMAGE_EXTENSIONS)


def check_input_key(key: str, prefix: str) -> str | None:
    """None if `key` is a usable input image under `prefix`, else the reason it is not."""
    try:
        validate_key(key, prefix)
    except InvalidKeyError as e:
        return str(e)
    if key.endswith("/"):
        return f"{key!r}: folder marker, not an image"
    if not is_image_key(key):
        return f"{key!r}: not an image (extension not one of {', '.join(IMAGE_EXTENSIONS)})"
    return None


def stem(key: str, prefix: str) -> str:
    """'customers/team/alice.jpg' under 'customers/' → 'team/alice'."""
    return posixpath.splitext(key[len(prefix):])[0]


def _escape(name: str, slash: bool) -> str:
    name = name.replace("%", "%25")
    return name.replace("/", "%2F") if slash else name


def _head(text: str, max_bytes: int) -> str:
    """The first characters of `text` that fit in `max_bytes` of UTF-8 (never half a character)."""
    out = text.encode("utf-8")[:max_bytes].decode("utf-8", errors="ignore")
    return out.rstrip("/")


def _shortened(name: str, escaped: str) -> str:
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:24]
    return _head(escaped.replace("/", "%2F"), SHORT_HEAD_BYTES) + _HASH_MARK + digest


def customer_segment(customer_key: str, customers_prefix: str) -> str:
    """The customer's folder name under the output prefix: one segment, one-to-one."""
    name = stem(customer_key, customers_prefix)
    escaped = _escape(name, slash=True)
    return escaped if len(escaped.encode("utf-8")) <= CUSTOMER_SEGMENT_MAX else _shortened(name, escaped)


def composite_budget(output_prefix: str) -> int:
    """Bytes left for a garment's part of a composite key under `output_prefix`."""
    return MAX_KEY_BYTES - len(output_prefix.encode("utf-8")) - CUSTOMER_SEGMENT_MAX - 1 - len(".jpg")


def garment_part(garment_key: str, catalogue_prefix: str, output_prefix: str) -> str:
    """The garment's name inside a customer's folder (its folders kept), one-to-one."""
    name = stem(garment_key, catalogue_prefix)
    escaped = _escape(name, slash=False)
    fits = (len(escaped.encode("utf-8")) <= composite_budget(output_prefix)
            and all(len(seg.encode("utf-8")) <= SEGMENT_MAX_BYTES - 4 for seg in escaped.split("/")))
    return escaped if fits else _shortened(name, escaped)


def check_output_prefix(output_prefix: str) -> str | None:
    """None if composites fit under `output_prefix`, else why not (the planner refuses the run)."""
    if composite_budget(output_prefix) < SHORT_HEAD_BYTES + len(_HASH_MARK) + 24:
        return (f"output prefix {output_prefix!r} is too long: composite keys under it could exceed "
                f"{MAX_KEY_BYTES} bytes (TRYON_OUTPUT_PREFIX)")
    return None


def composite_key(output_prefix: str, customer_key: str, customers_prefix: str,
                  garment_key: str, catalogue_prefix: str) -> str:
    # The inputs first: a tampered plan entry must not reach a key, even escaped.
    validate_key(customer_key, customers_prefix)
    validate_key(garment_key, catalogue_prefix)
    key = (f"{output_prefix}{customer_segment(customer_key, customers_prefix)}/"
           f"{garment_part(garment_key, catalogue_prefix, output_prefix)}.jpg")
    return validate_key(key, output_prefix)


def customer_folder(output_prefix: str, customer_key: str, customers_prefix: str) -> str:
    """'tryon/alice/': where one customer's composites and index live."""
    return f"{output_prefix}{customer_segment(customer_key, customers_prefix)}/"


def index_key(output_prefix: str, customer_key: str, customers_prefix: str) -> str:
    return validate_key(customer_folder(output_prefix, customer_key, customers_prefix) + INDEX_NAME, output_prefix)


def run_key(runs_prefix: str, run_id: str, name: str) -> str:
    return validate_key(f"{runs_prefix}{run_id}/{name}", runs_prefix)


FINGERPRINT_METADATA = "tryon-fingerprint"


def recorded_fingerprint(metadata: dict[str, str]) -> str | None:
    """The fingerprint (worker/plan.py) a composite's metadata records, if any."""
    return metadata.get(FINGERPRINT_METADATA)


def composite_inputs(metadata: dict[str, str]) -> tuple[str, str] | None:
    """(customer key, garment key) a composite was made from, as its metadata records them
    (composite_metadata); None for an object the renderer did not write. Pruning and forgetting
    identify composites this way, never by parsing their keys."""
    customer, garment = metadata.get("tryon-customer"), metadata.get("tryon-garment")
    if not customer or not garment:
        return None
    return urllib.parse.unquote(customer), urllib.parse.unquote(garment)


# S3 user metadata is ASCII text, ~2 KB in all: keys are %-quoted, stages summarised.
QA_REASONS_MAX = 600   # characters of the quoted QA reasons kept in a composite's metadata


def composite_metadata(*, fp: str, customer_key: str, customer_etag: str, garment_key: str,
                       garment_etag: str, chain_version: str, stages: dict, timings: dict,
                       run_id: str, qa: dict | None = None, category: str | None = None) -> dict[str, str]:
    """`qa`: the composite's QA verdict ({"status", "reasons"}) as `tryon-qa` (ok / needs_review)
    and `tryon-qa-reasons` (%-quoted, "; "-joined); `category`: the garment's (`tryon-category`)."""
    meta = {
        FINGERPRINT_METADATA: fp,
        "tryon-chain": chain_version,
        "tryon-customer": urllib.parse.quote(customer_key),
        "tryon-customer-etag": customer_etag.strip('"'),
        "tryon-garment": urllib.parse.quote(garment_key),
        "tryon-garment-etag": garment_etag.strip('"'),
        "tryon-stages": stages_summary(stages),
        "tryon-timings": json.dumps({k: round(v, 4) for k, v in timings.items()}, separators=(",", ":")),
        "tryon-run": run_id,
    }
    if category is not None:
        meta["tryon-category"] = category
    if qa is not None:
        meta["tryon-qa"] = qa["status"]
        if qa.get("reasons"):
            meta["tryon-qa-reasons"] = urllib.parse.quote("; ".join(qa["reasons"]))[:QA_REASONS_MAX]
    return meta


def stages_summary(stages: dict) -> str:
    """{'pose': {'impl': 'blazepose', 'weights': {'f.tflite': 'sha256:abcd…'}}} →
    'pose=blazepose[f.tflite:sha256:abcd1234abcd];…' (short hashes keep metadata small)."""
    out = []
    for stage, info in sorted(stages.items()):
        weights = ",".join(f"{name}:{(h or 'unchecked')[:19]}" for name, h in sorted(info.get("weights", {}).items()))
        out.append(f"{stage}={info.get('impl', '?')}" + (f"[{weights}]" if weights else ""))
    return urllib.parse.quote(";".join(out), safe="=;[],:/.-_")
