"""`make publish-site`: the kit goes to the bucket with the content types browsers need and a site-config.json."""

from __future__ import annotations

import json

import boto3
from moto import mock_aws

from local.publish import SHORT_CACHE, publish, site_files
from local.site import SITE_ROOT


@mock_aws
def test_publish_uploads_every_page_with_its_type_and_the_api_address() -> None:
    session = boto3.session.Session(region_name="us-east-1")
    s3 = session.client("s3")
    s3.create_bucket(Bucket="kit")
    distribution = session.client("cloudfront").create_distribution(
        DistributionConfig={
            "CallerReference": "test",
            "Comment": "",
            "Enabled": True,
            "Origins": {"Quantity": 1, "Items": [{"Id": "site", "DomainName": "kit.s3.amazonaws.com"}]},
            "DefaultCacheBehavior": {"TargetOriginId": "site", "ViewerProtocolPolicy": "redirect-to-https"},
        }
    )["Distribution"]["Id"]

    keys = publish("kit", "https://api.example/", distribution_id=distribution, session=session)

    expected = {key for key, _ in site_files()}
    assert {"index.html", "booking-widget.js", "admin/index.html", "book/verify/index.html"} <= expected
    assert set(keys) == expected | {"site-config.json"}
    widget = s3.get_object(Bucket="kit", Key="booking-widget.js")
    assert widget["ContentType"] == "text/javascript; charset=utf-8"
    assert widget["Body"].read() == (SITE_ROOT / "booking-widget.js").read_bytes()
    page = s3.get_object(Bucket="kit", Key="admin/index.html")
    assert (page["ContentType"], page["CacheControl"]) == ("text/html; charset=utf-8", SHORT_CACHE)
    config = s3.get_object(Bucket="kit", Key="site-config.json")
    assert json.loads(config["Body"].read()) == {"api": "https://api.example"}
    invalidations = session.client("cloudfront").list_invalidations(DistributionId=distribution)
    assert invalidations["InvalidationList"]["Quantity"] == 1
