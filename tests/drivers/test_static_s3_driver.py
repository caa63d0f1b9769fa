"""The static-s3 driver against moto's server: what the bucket holds after each switch."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path
from typing import Any

import pytest
from driver_helpers import build_driver, free_port, run_python

from backout.drivers import Driver, ReleaseRef, RunState
from backout.errors import ConfigError, DriverError
from tests.aws_support import (
    FAKE_CREDENTIALS,
    REGION,
    FakeCloudFront,
    Moto,
    create_distribution,
    s3_keys,
    s3_text,
    unique,
    write_build,
)

pytestmark = pytest.mark.usefixtures("aws_env")

V1_FILES = {"app.css": "body{}", "old.js": "console.log(1)", "img/logo.svg": "<svg/>"}
V2_FILES = {"app.css": "body{color:red}", "img/logo.svg": "<svg/>"}


@pytest.fixture
def bucket(moto: Moto) -> str:
    name = unique("site")
    moto.client("s3").create_bucket(
        Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    return name


@pytest.fixture
def builds(tmp_path: Path) -> Path:
    write_build(tmp_path / "builds" / "1.0.0", "1.0.0", V1_FILES)
    write_build(tmp_path / "builds" / "1.1.0", "1.1.0", V2_FILES)
    return tmp_path / "builds"


def s3_driver(tmp_path: Path, moto: Moto, bucket: str, **settings: Any) -> Driver:
    return build_driver(
        "static-s3", moto.settings(bucket=bucket, builds_dir="builds", **settings), tmp_path
    )


def release(version: str, ref: str | None = None) -> ReleaseRef:
    return ReleaseRef(service="web", version=version, ref=ref)


def test_moto_sync_deletes_what_the_new_build_lacks_and_keeps_previous_builds(
    tmp_path: Path, moto: Moto, bucket: str, builds: Path
) -> None:
    driver = s3_driver(tmp_path, moto, bucket, live_prefix="site")
    driver.deploy(release("1.0.0"))
    moto.client("s3").put_object(Bucket=bucket, Key="site/stray.txt", Body=b"left by hand")
    driver.deploy(release("1.1.0"))
    assert s3_keys(moto, bucket, "site/") == {
        "site/index.html",
        "site/app.css",
        "site/img/logo.svg",
        "site/.backout/live.json",
    }
    assert s3_text(moto, bucket, "site/app.css") == "body{color:red}"
    assert s3_text(moto, bucket, "releases/1.0.0/old.js") == "console.log(1)", "1.0.0 kept"
    assert s3_text(moto, bucket, "releases/1.0.0/index.html") == "<h1>1.0.0</h1>"


def test_moto_a_live_root_never_deletes_the_release_copies(
    tmp_path: Path, moto: Moto, bucket: str, builds: Path
) -> None:
    driver = s3_driver(tmp_path, moto, bucket)  # live at the bucket's root, releases/ inside
    driver.deploy(release("1.0.0"))
    driver.deploy(release("1.1.0"))
    keys = s3_keys(moto, bucket)
    assert "old.js" not in keys
    assert {"index.html", "releases/1.0.0/old.js", "releases/1.1.0/app.css"} <= keys
    assert json.loads(s3_text(moto, bucket, ".backout/live.json") or "")["version"] == "1.1.0"


def test_moto_files_are_served_with_the_type_of_their_extension(
    tmp_path: Path, moto: Moto, bucket: str, builds: Path
) -> None:
    s3_driver(tmp_path, moto, bucket, live_prefix="site").deploy(release("1.0.0"))
    s3 = moto.client("s3")
    types = {
        key: s3.head_object(Bucket=bucket, Key=f"site/{key}")["ContentType"]
        for key in ("index.html", "app.css", "old.js", "img/logo.svg")
    }
    assert types == {
        "index.html": "text/html",
        "app.css": "text/css",
        "old.js": "text/javascript",
        "img/logo.svg": "image/svg+xml",
    }


def test_moto_an_unchanged_file_is_not_copied_again(
    tmp_path: Path, moto: Moto, bucket: str, builds: Path
) -> None:
    driver = s3_driver(tmp_path, moto, bucket, live_prefix="site")
    driver.deploy(release("1.0.0"))
    s3 = moto.client("s3")
    # Same bytes (so the same ETag), another Content-Type: a copy would put text/css back.
    for key in ("site/img/logo.svg", "site/app.css"):
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=s3_text(moto, bucket, key).encode(),  # type: ignore[union-attr]
            ContentType="x-test/untouched",
        )
    driver.deploy(release("1.1.0"))
    assert (
        s3.head_object(Bucket=bucket, Key="site/img/logo.svg")["ContentType"] == "x-test/untouched"
    )
    assert s3.head_object(Bucket=bucket, Key="site/app.css")["ContentType"] == "text/css", "changed"


def test_moto_a_rollback_needs_only_the_bucket(
    tmp_path: Path, moto: Moto, bucket: str, builds: Path
) -> None:
    driver = s3_driver(tmp_path, moto, bucket, live_prefix="site")
    driver.deploy(release("1.0.0"))
    driver.prepare(release("1.1.0"))
    assert driver.current() == "1.0.0", "prepare uploads the copy only"
    shutil.rmtree(builds)
    driver.deploy(release("1.1.0"))
    driver.deploy(release("1.0.0"))
    assert s3_text(moto, bucket, "site/index.html") == "<h1>1.0.0</h1>"
    assert s3_text(moto, bucket, "site/old.js") == "console.log(1)"


def test_moto_a_release_ref_names_its_build_folder(tmp_path: Path, moto: Moto, bucket: str) -> None:
    write_build(tmp_path / "dist", "2.0.0")
    driver = s3_driver(tmp_path, moto, bucket)
    driver.deploy(release("2.0.0", ref="dist"))
    assert s3_text(moto, bucket, "index.html") == "<h1>2.0.0</h1>"
    with pytest.raises(DriverError, match=r"no build of web 3\.0\.0"):
        driver.deploy(release("3.0.0"))


def test_moto_a_crash_between_sync_and_marker_is_finished_by_the_next_deploy(
    tmp_path: Path, moto: Moto, bucket: str, builds: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    driver = s3_driver(tmp_path, moto, bucket, live_prefix="site")
    driver.deploy(release("1.0.0"))
    monkeypatch.setenv("BACKOUT_FAILPOINTS", "static-s3.after_sync=1.1.0")
    settings = moto.settings(bucket=bucket, builds_dir="builds", live_prefix="site")
    crashed = run_python(
        textwrap.dedent(f"""
            from pathlib import Path
            from driver_helpers import build_driver
            from backout.drivers import ReleaseRef
            driver = build_driver("static-s3", {settings!r}, Path({str(tmp_path)!r}))
            driver.deploy(ReleaseRef(service="web", version="1.1.0"))
        """),
        Path(__file__).parent,
    )
    monkeypatch.delenv("BACKOUT_FAILPOINTS")
    assert crashed.returncode == -9, crashed.stderr
    assert s3_text(moto, bucket, "site/index.html") == "<h1>1.1.0</h1>", "synced, not marked"
    status = driver.status()
    assert (status.state, driver.current()) == (RunState.FAILED, None)
    assert "stopped part-way" in status.detail
    driver.deploy(release("1.1.0"))
    assert driver.current() == "1.1.0"
    assert driver.status().state is RunState.RUNNING


def test_moto_the_cloudfront_invalidation_is_waited_for(
    tmp_path: Path, moto: Moto, bucket: str, builds: Path
) -> None:
    distribution = create_distribution(moto, bucket)
    driver = s3_driver(tmp_path, moto, bucket, distribution_id=distribution)
    driver.deploy(release("1.0.0"))
    cloudfront = moto.client("cloudfront")
    listed = cloudfront.list_invalidations(DistributionId=distribution)["InvalidationList"]
    assert listed["Quantity"] == 1
    only = cloudfront.get_invalidation(DistributionId=distribution, Id=listed["Items"][0]["Id"])
    assert only["Invalidation"]["Status"] == "COMPLETED"  # moto's spelling
    assert only["Invalidation"]["InvalidationBatch"]["Paths"]["Items"] == ["/*"]
    marker = json.loads(s3_text(moto, bucket, ".backout/live.json") or "")
    assert marker["invalidation"] == "done"


def cloudfront_elsewhere(monkeypatch: pytest.MonkeyPatch, moto: Moto, fake: FakeCloudFront) -> None:
    """S3 on moto, CloudFront on the fake: boto3's per-service endpoint variables."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto.endpoint_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDFRONT", fake.url)


def test_fake_cloudfront_completed_as_aws_spells_it_ends_the_wait(
    tmp_path: Path, moto: Moto, bucket: str, builds: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeCloudFront(in_progress_reads=2) as fake:
        cloudfront_elsewhere(monkeypatch, moto, fake)
        settings = {"bucket": bucket, "builds_dir": "builds", "region": REGION}
        settings |= {"distribution_id": "E1", "invalidation_timeout": "5s"}
        build_driver("static-s3", settings, tmp_path).deploy(release("1.0.0"))
        assert fake.reads == 3, "read InProgress twice, then Completed"
    marker = json.loads(s3_text(moto, bucket, ".backout/live.json") or "")
    assert marker["invalidation"] == "done"


def test_fake_cloudfront_an_invalidation_never_done_is_a_retryable_error_and_resumes(
    tmp_path: Path, moto: Moto, bucket: str, builds: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = {"bucket": bucket, "builds_dir": "builds", "region": REGION, "distribution_id": "E1"}
    with FakeCloudFront(in_progress_reads=-1) as fake:
        cloudfront_elsewhere(monkeypatch, moto, fake)
        driver = build_driver("static-s3", {**settings, "invalidation_timeout": "1s"}, tmp_path)
        with pytest.raises(
            DriverError, match="gave up waiting after 1s for invalidation"
        ) as raised:
            driver.deploy(release("1.0.0"))
        assert raised.value.retryable
        assert driver.current() == "1.0.0"
        assert "invalidation of E1 is pending" in driver.status().detail
    with FakeCloudFront(in_progress_reads=0) as fake:
        cloudfront_elsewhere(monkeypatch, moto, fake)
        patient = {**settings, "invalidation_timeout": "5s"}
        build_driver("static-s3", patient, tmp_path).deploy(release("1.0.0"))
        assert len(fake.created) == 1, "the same version's deploy finishes the invalidation"


def test_moto_an_unknown_bucket_is_a_clear_error(tmp_path: Path, moto: Moto) -> None:
    driver = build_driver("static-s3", moto.settings(bucket=unique("nowhere")), tmp_path)
    with pytest.raises(DriverError, match="does not exist") as raised:
        driver.current()
    assert not raised.value.retryable
    assert FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"] not in str(raised.value)


def test_an_endpoint_that_does_not_answer_is_a_retryable_error(tmp_path: Path) -> None:
    settings = {
        "bucket": "site",
        "endpoint_url": f"http://127.0.0.1:{free_port()}",
        "region": REGION,
        "max_attempts": 1,
    }
    with pytest.raises(DriverError, match="cannot be reached") as raised:
        build_driver("static-s3", settings, tmp_path).status()
    assert raised.value.retryable


def test_a_live_prefix_inside_the_releases_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="live_prefix 'releases/site' lies inside"):
        build_driver("static-s3", {"bucket": "site", "live_prefix": "/releases/site/"}, tmp_path)
