"""Annotations in and out in the field's formats: exports and import sessions as jobs (issue 15)."""
