"""Exports: JSONL/CSV/XLSX rows from the store (and, later, ERM profiles and FHIR)."""
