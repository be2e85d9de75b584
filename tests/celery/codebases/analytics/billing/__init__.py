"""The product's billing app."""
