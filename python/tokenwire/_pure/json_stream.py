"""Being written."""
JsonStreamParser = None
