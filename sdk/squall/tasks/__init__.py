"""Task definitions: the declared function and its options, signatures (calls as data), extensions."""
