"""Operator errors in one line: what went wrong and which setting to check, for every command
of `python -m producer` (exit code 2; `--debug` shows the traceback instead).

    preflight(storage, redis, settings)   Redis answers, the bucket exists and the credentials work
    describe(exc, settings)               the one line for an exception, or None if it is not an
                                          operator's error (a bug: the traceback is worth showing)
"""
from __future__ import annotations

import urllib.parse

import botocore.exceptions
import redis

from worker.config import Settings

_CREDENTIAL_CODES = ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken",
                     "ExpiredToken", "AuthorizationHeaderMalformed")


class OperatorError(RuntimeError):
    """A misconfiguration or an unreachable server: the message is the whole story."""


def safe_url(url: str) -> str:
    """The URL without its password (it goes to the terminal and logs)."""
    parts = urllib.parse.urlsplit(url)
    if parts.password:
        netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        parts = parts._replace(netloc=netloc)
    return urllib.parse.urlunsplit(parts)


def s3_error(e: Exception, s: Settings) -> str:
    where = s.s3_endpoint_url or "AWS S3"
    if isinstance(e, botocore.exceptions.NoCredentialsError):
        return f"no S3 credentials found for {where}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    if isinstance(e, botocore.exceptions.ClientError):
        err = e.response.get("Error", {})
        code = str(err.get("Code"))
        answer = " ".join(str(part) for part in (err.get("Code"), err.get("Message")) if part)
        if code in _CREDENTIAL_CODES:
            return (f"S3 at {where} refused access to bucket {s.bucket!r} ({answer}): "
                    "check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and the key's permissions)")
        if code in ("NoSuchBucket", "404", "NotFound"):
            return (f"bucket {s.bucket!r} does not exist at {where}: check --bucket / TRYON_BUCKET "
                    "(and AWS_ENDPOINT_URL_S3)")
        return f"S3 at {where} answered {answer or e}"
    return f"cannot reach S3 at {where}: {' '.join(str(e).split())} (check AWS_ENDPOINT_URL_S3)"


def redis_error(e: Exception, s: Settings) -> str:
    return (f"cannot reach Redis at {safe_url(s.redis_url)}: {' '.join(str(e).split())} "
            "(check TRYON_REDIS_URL / TRYON_BROKER_URL)")


def describe(e: BaseException, s: Settings) -> str | None:
    """The one line an operator needs for `e`, or None when `e` is not an operator's error."""
    from kombu.exceptions import OperationalError

    from producer.planner import PlanError
    from worker.keys import InvalidKeyError
    if isinstance(e, (OperatorError, PlanError)):
        return str(e)
    if isinstance(e, (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)):
        return s3_error(e, s)
    if isinstance(e, redis.RedisError):
        return redis_error(e, s)
    if isinstance(e, OperationalError):  # kombu: the broker refused or dropped the connection
        return (f"cannot reach the broker at {safe_url(s.broker_url)}: {' '.join(str(e).split())} "
                "(check TRYON_BROKER_URL)")
    if isinstance(e, InvalidKeyError):
        return str(e)
    return None


def preflight(storage, client: redis.Redis | None, s: Settings) -> None:
    """Raise OperatorError unless Redis answers and the bucket exists with working credentials.
    Before anything is locked or written: a missing bucket leaves nothing behind in Redis."""
    if client is not None:
        try:
            client.ping()
        except redis.RedisError as e:
            raise OperatorError(redis_error(e, s)) from e
    try:
        if not storage.bucket_exists():
            raise OperatorError(f"bucket {s.bucket!r} does not exist at {s.s3_endpoint_url or 'AWS S3'}: "
                                "check --bucket / TRYON_BUCKET (and AWS_ENDPOINT_URL_S3)")
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
        raise OperatorError(s3_error(e, s)) from e
