"""Outbound e-mail through a transactional outbox."""
