"""The bucket, through boto3: paginated listing, get/put with metadata, head.

Transient failures (throttling, 5xx, dropped connections) are retried inside botocore
(retry mode 'standard' by default, see TRYON_S3_RETRY_MODE / TRYON_S3_MAX_ATTEMPTS); what
still fails after that surfaces as one of TRANSIENT_ERRORS, which the Celery task retries
with backoff. A missing object is not transient: `head` returns None and `get` raises
ObjectMissingError.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Iterator

import boto3
import botocore.exceptions
from botocore.config import Config

from worker.config import Settings

# Raised once botocore's own retries are exhausted; worth another try later.
TRANSIENT_ERRORS = (
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectionClosedError,
    botocore.exceptions.ConnectTimeoutError,
    botocore.exceptions.ReadTimeoutError,
    botocore.exceptions.ResponseStreamingError,
)
_MISSING_CODES = {"404", "NoSuchKey", "NotFound"}


class ObjectMissingError(KeyError):
    """The object is not in the bucket (deleted since the run was planned, typically)."""


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    etag: str
    size: int


@dataclass
class StoredObject:
    body: bytes
    etag: str
    metadata: dict[str, str]


def make_client(s: Settings, max_attempts: int | None = None):
    config = Config(
        # total_max_attempts counts the first try too ("max_attempts" would mean retries).
        retries={"mode": s.s3_retry_mode, "total_max_attempts": max_attempts or s.s3_max_attempts},
        connect_timeout=10, read_timeout=60,
        s3={"addressing_style": "path"},  # MinIO / SeaweedFS on one host name
        max_pool_connections=32,  # the planner reads customer indexes 16 at a time
    )
    return boto3.client("s3", endpoint_url=s.s3_endpoint_url, region_name=s.s3_region, config=config,
                        aws_access_key_id=s.s3_access_key, aws_secret_access_key=s.s3_secret_key)


class RetryCounter:
    """How many times botocore retried this client's calls (its 'standard'/'adaptive' retries are
    otherwise invisible): the worker adds the count to each chunk's record, the run report sums it."""

    def __init__(self, client):
        self.total = 0
        client.meta.events.register("after-call.s3", self._after_call)

    def _after_call(self, parsed=None, **_):
        self.total += int(((parsed or {}).get("ResponseMetadata") or {}).get("RetryAttempts", 0) or 0)


class Storage:
    def __init__(self, client, bucket: str, page_size: int = 1000):
        self.client = client
        self.bucket = bucket
        self.page_size = page_size  # keys per LIST request unless a call says otherwise (S3's maximum: 1000)

    @classmethod
    def from_settings(cls, s: Settings) -> "Storage":
        return cls(make_client(s), s.bucket)

    def list(self, prefix: str, page_size: int | None = None) -> Iterator[ObjectInfo]:
        """Every object under `prefix`, page by page (S3 returns at most 1000 keys per request).
        A page that cannot be read raises: a listing is never silently incomplete."""
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix,
                                       PaginationConfig={"PageSize": page_size or self.page_size}):
            for obj in page.get("Contents", []):
                yield ObjectInfo(obj["Key"], obj["ETag"].strip('"'), int(obj["Size"]))

    def head(self, key: str) -> dict | None:
        """{'etag', 'size', 'metadata'} or None when the object does not exist."""
        try:
            r = self.client.head_object(Bucket=self.bucket, Key=key)
        except botocore.exceptions.ClientError as e:
            if _is_missing(e):
                return None
            raise
        return {"etag": r["ETag"].strip('"'), "size": r["ContentLength"], "metadata": r.get("Metadata", {})}

    def get(self, key: str) -> StoredObject:
        try:
            r = self.client.get_object(Bucket=self.bucket, Key=key)
        except botocore.exceptions.ClientError as e:
            if _is_missing(e):
                raise ObjectMissingError(key) from e
            raise
        return StoredObject(r["Body"].read(), r["ETag"].strip('"'), r.get("Metadata", {}))

    def put(self, key: str, body: bytes, content_type: str, metadata: dict[str, str] | None = None) -> str:
        r = self.client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type,
                                   Metadata=metadata or {})
        return r["ETag"].strip('"')

    def delete_many(self, keys: list[str]) -> int:
        """Delete `keys` (1000 per request); the number of keys deleted. Deleting a key that does
        not exist is not an error (S3 semantics), so this is idempotent."""
        done = 0
        for start in range(0, len(keys), 1000):
            batch = keys[start:start + 1000]
            r = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in batch],
                                                                        "Quiet": True})
            errors = r.get("Errors") or []
            if errors:
                e = errors[0]
                raise RuntimeError(f"s3://{self.bucket}: could not delete {len(errors)} of {len(batch)} objects "
                                   f"(first: {e.get('Key')}: {e.get('Code')} {e.get('Message')})")
            done += len(batch)
        return done

    def bucket_exists(self) -> bool:
        """False when the bucket does not exist; other errors (access, endpoint) raise."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except botocore.exceptions.ClientError as e:
            if _is_missing(e) or str(e.response.get("Error", {}).get("Code")) == "NoSuchBucket":
                return False
            raise
        return True

    def get_json(self, key: str):
        """Parsed JSON object, or None when it does not exist."""
        try:
            return json.loads(self.get(key).body)
        except ObjectMissingError:
            return None

    def put_json(self, key: str, value) -> str:
        return self.put(key, json.dumps(value, indent=1, sort_keys=True).encode(), "application/json")

    def ensure_bucket(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except botocore.exceptions.ClientError as e:
            if not _is_missing(e):
                raise
            self.client.create_bucket(Bucket=self.bucket)


def _is_missing(e: botocore.exceptions.ClientError) -> bool:
    err = e.response.get("Error", {})
    return str(err.get("Code")) in _MISSING_CODES or e.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404
