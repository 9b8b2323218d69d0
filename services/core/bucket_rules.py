"""What the bucket allows: anonymous reads of HLS objects only, and browser requests from
our own pages (set by `ObjectStore.ensure_bucket` at every API start)."""

from typing import Any


def public_read_policy(bucket: str) -> dict[str, Any]:
    """Anyone may GET the HLS objects (playlists and segments), nothing else.

    Stream ids are 128 random bits, so a playlist URL is unguessable; inputs and outputs
    stay private and are reached only through presigned URLs.
    """
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PublicReadHls",
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["s3:GetObject"],
                "Resource": [f"arn:aws:s3:::{bucket}/streams/*/hls/*"],
            }
        ],
    }


def cors_rules(origins: list[str]) -> dict[str, Any]:
    """Browsers may read HLS objects and POST presigned uploads from our pages."""
    return {
        "CORSRules": [
            {
                "AllowedOrigins": origins,
                "AllowedMethods": ["GET", "HEAD", "POST", "PUT"],
                "AllowedHeaders": ["*"],
                "ExposeHeaders": ["ETag", "Content-Length"],
                "MaxAgeSeconds": 3600,
            }
        ]
    }
