//! Provider stream dialects.
