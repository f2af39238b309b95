"""Being written."""
DEFAULT_MAX_EVENT_BYTES = 16 * 1024 * 1024
ServerSentEvent = None
SSEDecoder = None
