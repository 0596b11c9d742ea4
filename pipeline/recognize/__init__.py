"""Recognisers: tick marks (omr), boxed handwriting (icr), printed text (ocr)."""
