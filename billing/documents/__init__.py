"""Issued documents: FSA/HSA receipts, credit notes, payment acknowledgements, year-end statements and
superbills. Each is numbered gap-free per practice and kind, snapshots every party and line at issue,
is rendered to PDF once and is never changed afterwards (the database refuses UPDATE and DELETE)."""
