"""Being written."""
TokenBucket = None
