"""Replication to a real S3 server (SeaweedFS) and restores from it: `nox -s replicate`."""
