"""The `static-s3` driver: a static site in an S3 bucket, optionally behind CloudFront.

    driver:
      type: static-s3
      bucket: badminton-frontend
      builds_dir: ../frontend/builds     # builds/<version>/, when a release names no folder
      live_prefix: ""                    # where the site is served from ("" = the bucket's root)
      releases_prefix: releases          # where every release's copy stays
      distribution_id: E2EXAMPLE123      # invalidate /* after each switch
      region: eu-west-1

A release is a folder of built files: its `ref` (relative to the config file), else
`builds_dir/<version>`. prepare() uploads it once to `s3://bucket/<releases_prefix>/<version>/`
and writes that copy's manifest last; the copy is kept, so a rollback needs only the bucket.
deploy() then copies the release's files into the live prefix, server-side, each only when its
ETag differs from the MD5 of the file (a one-part upload's ETag is its MD5; so files that did not
change are neither uploaded nor copied), pages last; deletes the live objects the release does not
have (never those under the releases prefix nor `.backout/`); records the live version in
`<live_prefix>/.backout/live.json`; and, with a `distribution_id`, invalidates `/*` and polls the
invalidation until CloudFront says `Completed` (moto says `COMPLETED`).

The marker says `syncing` before the first copy and `live` after the last delete, so a deploy
cut short by a crash is seen (status `failed`, current() None) and done again by the next
deploy, which copies only what is still missing; an invalidation not seen complete is created
again (same CallerReference) by the next deploy of the same version.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from pydantic import Field, field_validator, model_validator

from backout import failpoints
from backout.drivers._aws import AwsSettings, aws_call, aws_client, error_code, poll_until
from backout.drivers._s3_build import BACKOUT_FOLDER, BuildFile, Manifest, scan_build
from backout.drivers.base import DriverStatus, ReleaseRef, RunState
from backout.durations import PositiveDuration
from backout.errors import DriverError
from backout.registry import PluginContext

logger = logging.getLogger(__name__)

_SAFE_VERSION = re.compile(r"^[A-Za-z0-9_+-][A-Za-z0-9._+-]*$")
_DELETE_BATCH = 1000  # DeleteObjects' limit
_INVALIDATION_DONE = frozenset({"Completed", "COMPLETED"})  # AWS, moto


class StaticS3Settings(AwsSettings):
    bucket: str = Field(min_length=3, description="The S3 bucket the site is served from.")
    live_prefix: str = Field(
        "", description="The folder of the bucket the site is served from; `` = the root."
    )
    releases_prefix: str = Field(
        "releases", min_length=1, description="The folder where every release's copy is kept."
    )
    builds_dir: str | None = Field(
        None,
        description="A folder holding one built folder per version (`<builds_dir>/<version>`), "
        "relative to the config file; used when a release names no folder of its own.",
    )
    distribution_id: str | None = Field(
        None,
        description="The CloudFront distribution in front of the bucket: `/*` is "
        "invalidated after each switch and waited for.",
    )
    invalidation_timeout: PositiveDuration = Field(
        timedelta(minutes=10),
        description="How long a deploy waits for CloudFront's invalidation to complete.",
    )

    @field_validator("live_prefix", "releases_prefix")
    @classmethod
    def _without_slashes(cls, value: str) -> str:
        return value.strip("/")

    @model_validator(mode="after")
    def _releases_outside_live_copies(self) -> StaticS3Settings:
        live, releases = self.live_prefix, self.releases_prefix
        if live == releases or live.startswith(releases + "/"):
            raise ValueError(
                f"live_prefix {live!r} lies inside releases_prefix {releases!r}: the site "
                "would be served from among the release copies"
            )
        return self


@dataclass(frozen=True)
class LiveMarker:
    """What backout put live: `.backout/live.json` under the live prefix."""

    state: str  # "syncing", "live" or "stopped"
    version: str | None
    deploy_id: str  # also the CloudFront CallerReference of its invalidation
    changed_at: str
    invalidation: str | None = None  # "pending", "done", or None when no distribution


def _folder(prefix: str) -> str:
    return f"{prefix}/" if prefix else ""


def _etag(entry: dict[str, Any]) -> str:
    return str(entry.get("ETag", "")).strip('"')


class StaticS3Driver:
    """Puts a build folder live in a bucket; the state is the bucket's marker, not a local file."""

    def __init__(self, settings: StaticS3Settings, context: PluginContext) -> None:
        self._settings = settings
        self._context = context
        self._bucket = settings.bucket
        self._live = _folder(settings.live_prefix)
        self._releases = _folder(settings.releases_prefix)
        self._marker_key = f"{self._live}{BACKOUT_FOLDER}/live.json"
        self._s3_client: Any = None
        self._cloudfront_client: Any = None

    # --- reading -------------------------------------------------------------------------

    def current(self) -> str | None:
        marker = self._marker()
        return marker.version if marker is not None and marker.state == "live" else None

    def status(self) -> DriverStatus:
        marker = self._marker()
        where = f"s3://{self._bucket}/{self._live}"
        if marker is None or marker.state == "stopped":
            return DriverStatus(RunState.STOPPED, None, f"{where}: nothing deployed by backout")
        if marker.state == "syncing":
            what = marker.version or "a stop"
            detail = f"{where}: the switch to {what} stopped part-way; deploy again to finish it"
            return DriverStatus(RunState.FAILED, None, detail, started_at=marker.changed_at)
        detail = f"{where} serves {marker.version} (deploy {marker.deploy_id})"
        if marker.invalidation == "pending":
            detail += (
                f"; the CloudFront invalidation of {self._settings.distribution_id} is pending"
            )
        return DriverStatus(RunState.RUNNING, marker.version, detail, started_at=marker.changed_at)

    # --- changing ------------------------------------------------------------------------

    def prepare(self, release: ReleaseRef) -> None:
        self._release_manifest(release)

    def deploy(self, release: ReleaseRef) -> None:
        version = _checked_version(release.version)
        marker = self._marker()
        if marker is not None and marker.state == "live" and marker.version == version:
            if marker.invalidation == "pending":
                self._invalidate(marker)
            return
        manifest = self._release_manifest(release)
        resuming = marker is not None and marker.state == "syncing" and marker.version == version
        deploy_id = marker.deploy_id if marker is not None and resuming else uuid.uuid4().hex
        self._write_marker(LiveMarker("syncing", version, deploy_id, _now()))
        self._sync_live(manifest)
        failpoints.hit("static-s3.after_sync", version)
        pending = "pending" if self._settings.distribution_id else None
        live = LiveMarker("live", version, deploy_id, _now(), pending)
        self._write_marker(live)
        self._invalidate(live)

    def stop(self) -> None:
        """Take the site down: empty the live prefix (the release copies stay)."""
        marker = self._marker()
        if marker is None:
            return  # nothing of backout's is live; a site put there otherwise is left alone
        if marker.state == "stopped" and not self._live_objects():
            return
        stopping = LiveMarker("syncing", None, uuid.uuid4().hex, _now())
        self._write_marker(stopping)
        self._delete(list(self._live_objects()))
        pending = "pending" if self._settings.distribution_id else None
        stopped = LiveMarker("stopped", None, stopping.deploy_id, _now(), pending)
        self._write_marker(stopped)
        self._invalidate(stopped)

    # --- the release copies --------------------------------------------------------------

    def _release_manifest(self, release: ReleaseRef) -> Manifest:
        """The manifest of the release's copy, uploading the build first if there is none."""
        version = _checked_version(release.version)
        prefix = f"{self._releases}{version}/"
        manifest_key = f"{prefix}{BACKOUT_FOLDER}/manifest.json"
        text = self._read_text(manifest_key)
        if text is not None:
            return Manifest.from_json(text, f"s3://{self._bucket}/{manifest_key}")
        folder = self._build_folder(release, prefix)
        manifest = scan_build(folder, version)
        uploaded = self._etags(prefix)
        for path in manifest.in_upload_order():
            entry = manifest.files[path]
            if uploaded.get(prefix + path) != entry.md5:  # a copy cut short resumes here
                self._upload(folder / path, prefix + path, entry)
        self._put_text(manifest_key, manifest.to_json(), "application/json")
        return manifest

    def _build_folder(self, release: ReleaseRef, prefix: str) -> Path:
        if release.ref:
            folder = self._context.resolve(release.ref)
            if folder.is_dir():
                return folder
            raise DriverError(f"the build of {release.version}, {folder}, is not a folder")
        if self._settings.builds_dir is not None:
            folder = self._context.resolve(self._settings.builds_dir) / release.version
            if folder.is_dir():
                return folder
        raise DriverError(
            f"no build of {release.service} {release.version}: s3://{self._bucket}/{prefix} "
            "holds no copy of it and no build folder is known",
            hint="name the build folder as the release's ref, or set builds_dir "
            "(builds_dir/<version>)",
        )

    def _upload(self, source: Path, key: str, entry: BuildFile) -> None:
        with (
            aws_call(f"uploading {source} to s3://{self._bucket}/{key}", not_found=self._no_bucket),
            source.open("rb") as body,
        ):
            self._s3().put_object(
                Bucket=self._bucket, Key=key, Body=body, ContentType=entry.content_type
            )

    # --- the live prefix -----------------------------------------------------------------

    def _sync_live(self, manifest: Manifest) -> None:
        """Make the live prefix hold exactly the release's files: copy what differs, pages
        last, then delete what the release does not have."""
        live = self._live_objects()
        source = f"{self._releases}{manifest.version}/"
        copied = 0
        for path in manifest.in_upload_order():
            entry = manifest.files[path]
            key = self._live + path
            if live.get(key) == entry.md5:
                continue
            copied += 1
            with aws_call(f"copying {path} of {manifest.version} live", not_found=self._no_bucket):
                self._s3().copy_object(
                    Bucket=self._bucket,
                    Key=key,
                    CopySource={"Bucket": self._bucket, "Key": source + path},
                    ContentType=entry.content_type,
                    MetadataDirective="REPLACE",
                )
        stale = [key for key in live if key[len(self._live) :] not in manifest.files]
        self._delete(stale)
        logger.info(
            "s3://%s/%s now holds %s: %d file(s) copied, %d unchanged, %d deleted",
            self._bucket,
            self._live,
            manifest.version,
            copied,
            len(manifest.files) - copied,
            len(stale),
        )

    def _live_objects(self) -> dict[str, str]:
        """Key → ETag of the site's objects under the live prefix, without the release copies
        and backout's own objects, which a sync never touches."""
        kept = (self._releases, f"{self._live}{BACKOUT_FOLDER}/")
        return {k: e for k, e in self._etags(self._live).items() if not k.startswith(kept)}

    def _delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = [{"Key": key} for key in keys[start : start + _DELETE_BATCH]]
            with aws_call(f"deleting from s3://{self._bucket}/{self._live}"):
                answer = self._s3().delete_objects(
                    Bucket=self._bucket, Delete={"Objects": batch, "Quiet": True}
                )
            errors = answer.get("Errors") or []
            if errors:
                first = errors[0]
                raise DriverError(
                    f"{len(errors)} object(s) of s3://{self._bucket}/{self._live} could not be "
                    f"deleted, e.g. {first.get('Key')}: {first.get('Message')}",
                    retryable=True,
                )

    # --- the marker and CloudFront -------------------------------------------------------

    def _marker(self) -> LiveMarker | None:
        text = self._read_text(self._marker_key)
        if text is None:
            return None
        try:
            return LiveMarker(**json.loads(text))
        except (ValueError, TypeError) as error:
            raise DriverError(
                f"the live marker s3://{self._bucket}/{self._marker_key} cannot be read: {error}",
                hint="deploy a release again to rewrite it",
            ) from None

    def _write_marker(self, marker: LiveMarker) -> None:
        self._put_text(
            self._marker_key, json.dumps(asdict(marker), indent=1) + "\n", "application/json"
        )

    def _invalidate(self, marker: LiveMarker) -> None:
        distribution = self._settings.distribution_id
        if distribution is None or marker.invalidation != "pending":
            return
        doing = f"invalidating /* on CloudFront distribution {distribution}"
        with aws_call(doing, not_found=f"distribution {distribution} does not exist"):
            created = self._cloudfront().create_invalidation(
                DistributionId=distribution,
                InvalidationBatch={
                    "Paths": {"Quantity": 1, "Items": ["/*"]},
                    "CallerReference": marker.deploy_id,
                },
            )
        invalidation_id = created["Invalidation"]["Id"]

        def completed() -> str | None:
            with aws_call(f"reading invalidation {invalidation_id} of {distribution}"):
                answer = self._cloudfront().get_invalidation(
                    DistributionId=distribution, Id=invalidation_id
                )
            status = str(answer["Invalidation"]["Status"])
            return status if status in _INVALIDATION_DONE else None

        timeout = self._settings.invalidation_timeout.total_seconds()
        poll_until(completed, timeout, f"invalidation {invalidation_id} of {distribution}")
        self._write_marker(
            LiveMarker(marker.state, marker.version, marker.deploy_id, marker.changed_at, "done")
        )

    # --- S3 primitives -------------------------------------------------------------------

    @property
    def _no_bucket(self) -> str:
        return f"bucket {self._bucket} does not exist (or these credentials cannot see it)"

    def _read_text(self, key: str) -> str | None:
        with aws_call(f"reading s3://{self._bucket}/{key}", not_found=self._no_bucket):
            try:
                answer = self._s3().get_object(Bucket=self._bucket, Key=key)
            except ClientError as error:
                if error_code(error) == "NoSuchKey":
                    return None
                raise
            body: bytes = answer["Body"].read()
        return body.decode("utf-8")

    def _put_text(self, key: str, text: str, content_type: str) -> None:
        with aws_call(f"writing s3://{self._bucket}/{key}", not_found=self._no_bucket):
            self._s3().put_object(
                Bucket=self._bucket, Key=key, Body=text.encode(), ContentType=content_type
            )

    def _etags(self, prefix: str) -> dict[str, str]:
        found: dict[str, str] = {}
        with aws_call(f"listing s3://{self._bucket}/{prefix}", not_found=self._no_bucket):
            pages = (
                self._s3()
                .get_paginator("list_objects_v2")
                .paginate(Bucket=self._bucket, Prefix=prefix)
            )
            for page in pages:
                found.update({item["Key"]: _etag(item) for item in page.get("Contents", [])})
        return found

    def _s3(self) -> Any:
        if self._s3_client is None:
            self._s3_client = aws_client(self._settings, "s3")
        return self._s3_client

    def _cloudfront(self) -> Any:
        if self._cloudfront_client is None:
            self._cloudfront_client = aws_client(self._settings, "cloudfront")
        return self._cloudfront_client


def _checked_version(version: str) -> str:
    if not _SAFE_VERSION.match(version):
        raise DriverError(
            f"version {version!r} cannot name a folder of the bucket "
            "(letters, digits, '.', '_', '+', '-' only)"
        )
    return version


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
