"""`make publish-site`: upload the site kit (site/) to the stack's bucket (HostSiteKit=true), with the
`site-config.json` that tells the pages where the API is, and refresh CloudFront's copies.

    python -m local publish-site --stack booking-deposits-dev [--region eu-west-1]

Reads the stack's outputs (ApiUrl, SiteBucketName, SiteDistributionId). Content types are set per file, because
browsers refuse a module script served as binary/octet-stream; HTML and site-config.json are never cached for long,
so a new release shows at once, while scripts and styles keep CloudFront's default caching.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3

from local.site import CONTENT_TYPES, SITE_ROOT

SHORT_CACHE = "public, max-age=60"


def site_files(root: Path = SITE_ROOT) -> Iterator[tuple[str, Path]]:
    """(object key, file) for every file of the kit, in a stable order."""
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            yield path.relative_to(root).as_posix(), path


def publish(
    bucket: str, api_url: str, *, distribution_id: str | None = None, root: Path = SITE_ROOT, session: Any = None
) -> list[str]:
    """Upload the kit and its site-config.json; returns the keys written."""
    session = session or boto3.session.Session()
    s3 = session.client("s3")
    written: list[str] = []
    for key, path in site_files(root):
        extra = {"ContentType": CONTENT_TYPES.get(path.suffix, "application/octet-stream")}
        if path.suffix == ".html":
            extra["CacheControl"] = SHORT_CACHE
        s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes(), **extra)
        written.append(key)
    config = json.dumps({"api": api_url.rstrip("/")}).encode()
    s3.put_object(
        Bucket=bucket, Key="site-config.json", Body=config, ContentType="application/json", CacheControl=SHORT_CACHE
    )
    written.append("site-config.json")
    if distribution_id:
        session.client("cloudfront").create_invalidation(
            DistributionId=distribution_id,
            InvalidationBatch={
                "Paths": {"Quantity": 1, "Items": ["/*"]},
                "CallerReference": f"publish-{time.time_ns()}",
            },
        )
    return written


def stack_outputs(stack: str, session: Any) -> dict[str, str]:
    described = session.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    return {output["OutputKey"]: output["OutputValue"] for output in described.get("Outputs", [])}


def main(stack: str, region: str | None = None) -> int:
    session = boto3.session.Session(region_name=region)
    outputs = stack_outputs(stack, session)
    if "SiteBucketName" not in outputs:
        print(
            f"Stack {stack} hosts no site kit: deploy with HostSiteKit=true, or copy site/ to your own host "
            "with a site-config.json naming the API (README, Deploy).",
            file=sys.stderr,
        )
        return 1
    keys = publish(
        outputs["SiteBucketName"], outputs["ApiUrl"], distribution_id=outputs.get("SiteDistributionId"), session=session
    )
    print(f"uploaded {len(keys)} files; the site kit is at {outputs.get('SiteUrl', '(see SiteUrl)')}/")
    return 0
