"""The wire format: the envelope and its options, the value codec, and the body codec chain with signing."""
