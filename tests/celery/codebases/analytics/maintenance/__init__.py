"""The product's maintenance app."""
