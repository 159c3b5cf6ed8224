"""A garment's category (upper, lower, dress: models.contract.GARMENT_CATEGORIES) in the bucket.

    catalogue/<category>/…            the catalogue's layout says it (catalogue/lower/jeans.jpg)
    x-amz-meta-category: <category>   else the object's metadata says it (boto3: Metadata["category"])
    neither                           upper (DEFAULT_CATEGORY)

The layout decides where it says something (no metadata is read: no HEAD per garment); only
the other garments' metadata is read (one HEAD each, in parallel, when the run is planned). A
metadata value that is not a category is reported with the garment, never guessed: the planner
lists such a garment under `invalid`. A first folder that is not a category's name is an
ordinary folder (catalogue/summer/…): its garments take their category from their metadata.

A garment whose metadata S3 would not give when the run was planned travels with its category
unread (None): the worker applies `garment_category` to the object it downloads.

The category reaches the worker through the plan (`InputObject.category`) and is part of a
pair's fingerprint (worker/plan.py), so changing a garment's category re-renders its pairs.
"""
from __future__ import annotations

from models.contract import DEFAULT_CATEGORY, GARMENT_CATEGORIES

CATEGORY_METADATA = "category"   # S3 user metadata x-amz-meta-category


def layout_category(key: str, catalogue_prefix: str) -> str | None:
    """The category the catalogue's layout gives `key` (its first folder under the prefix, if
    that is a category's name), else None."""
    rest = key[len(catalogue_prefix):] if key.startswith(catalogue_prefix) else key
    first, sep, _ = rest.partition("/")
    return first if sep and first in GARMENT_CATEGORIES else None


def garment_category(key: str, catalogue_prefix: str, metadata: dict[str, str] | None) -> tuple[str | None, str | None]:
    """(category, None), or (None, reason naming the garment) for a metadata value that is no
    category. `metadata`: the object's user metadata (only read where `needs_metadata`)."""
    from_layout = layout_category(key, catalogue_prefix)
    if from_layout is not None:
        return from_layout, None
    raw = (metadata or {}).get(CATEGORY_METADATA)
    if raw is None or not raw.strip():
        return DEFAULT_CATEGORY, None
    value = raw.strip().lower()
    if value not in GARMENT_CATEGORIES:
        return None, (f"{key!r}: unknown garment category {raw!r} (x-amz-meta-{CATEGORY_METADATA}; "
                      f"expected {', '.join(GARMENT_CATEGORIES)})")
    return value, None


def needs_metadata(key: str, catalogue_prefix: str) -> bool:
    """Whether the planner must read the object's metadata (a HEAD) for its category: outside
    a category folder."""
    return layout_category(key, catalogue_prefix) is None
