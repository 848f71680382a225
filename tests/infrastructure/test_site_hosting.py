"""The optional static host of the site kit (HostSiteKit=true): private bucket, CloudFront through OAC, folder URLs."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest

from local.template import load_template

SITE_RESOURCES = ("SiteBucket", "SiteBucketPolicy", "SiteOriginAccessControl", "SiteIndexFunction", "SiteDistribution")


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    return load_template()["Resources"]


def test_the_site_host_exists_only_when_asked(resources: dict[str, Any]) -> None:
    template = load_template()
    assert template["Parameters"]["HostSiteKit"]["Default"] == "false"
    for name in SITE_RESOURCES:
        assert resources[name]["Condition"] == "HostsSiteKit", name
    for name in ("SiteUrl", "SiteBucketName", "SiteDistributionId"):
        assert template["Outputs"][name]["Condition"] == "HostsSiteKit", name


def test_the_bucket_is_private_and_only_cloudfront_reads_it(resources: dict[str, Any]) -> None:
    block = resources["SiteBucket"]["Properties"]["PublicAccessBlockConfiguration"]
    assert all(block[name] is True for name in block) and len(block) == 4
    statements = resources["SiteBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    allows = [s for s in statements if s["Effect"] == "Allow"]
    assert len(allows) == 1
    assert allows[0]["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert allows[0]["Action"] == "s3:GetObject"
    assert "AWS:SourceArn" in allows[0]["Condition"]["StringEquals"]
    origin = resources["SiteDistribution"]["Properties"]["DistributionConfig"]["Origins"][0]
    assert "OriginAccessControlId" in origin
    behaviour = resources["SiteDistribution"]["Properties"]["DistributionConfig"]["DefaultCacheBehavior"]
    assert behaviour["ViewerProtocolPolicy"] == "redirect-to-https"


def _run_viewer_request(code: str, uri: str, query: dict[str, str]) -> dict[str, Any]:
    """Run the CloudFront Function's handler in Node with a viewer-request event of that shape."""
    event = {"request": {"uri": uri, "querystring": {name: {"value": value} for name, value in query.items()}}}
    assert shutil.which("node"), "Node.js (on every machine here) runs the CloudFront Function's code"
    script = f"{code}\nprocess.stdout.write(JSON.stringify(handler({json.dumps(event)})));"
    result = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=30, check=True)  # noqa: S603, S607
    return json.loads(result.stdout)


def test_folder_urls_serve_their_index_and_links_without_a_slash_are_redirected(resources: dict[str, Any]) -> None:
    code = resources["SiteIndexFunction"]["Properties"]["FunctionCode"]
    assert _run_viewer_request(code, "/admin/", {})["uri"] == "/admin/index.html"
    assert _run_viewer_request(code, "/", {})["uri"] == "/index.html"
    assert _run_viewer_request(code, "/booking-widget.js", {})["uri"] == "/booking-widget.js"
    redirect = _run_viewer_request(code, "/book/verify", {"token": "abc_123-x"})
    assert redirect["statusCode"] == 308
    assert redirect["headers"]["location"]["value"] == "/book/verify/?token=abc_123-x"
    assert _run_viewer_request(code, "/admin", {})["headers"]["location"]["value"] == "/admin/"
