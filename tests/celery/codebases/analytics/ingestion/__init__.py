"""The product's ingestion app."""
