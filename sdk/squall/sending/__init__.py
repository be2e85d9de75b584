"""Sending: the producer (SendMessage, batches) and delays, including long ones and revokes."""
