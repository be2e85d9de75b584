"""The product's API app: it has no ``tasks`` module, so ``autodiscover_tasks`` finds nothing in it."""
