"""Moving bytes safely: pinned public HTTPS downloads with deadlines, S3 buckets and presigned links."""
