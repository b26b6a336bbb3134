"""Billing: invoices, payments, Stripe, packages and receipts. Depends on `scheduler`, never the reverse."""
