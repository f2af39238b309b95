"""Being written."""
DIALECTS = ()
StreamProcessor = None
