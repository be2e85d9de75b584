"""Task state in DynamoDB: the item's schema, the store's named conditions and writes, results."""
