"""Examples of Squall apps: the shop (examples.shop), the local demo and an extension."""
