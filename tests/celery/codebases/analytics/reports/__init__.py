"""The product's reports app."""
