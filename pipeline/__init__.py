"""Susulan: catch up a Puskesmas ERM from paper forms after an outage."""

__version__ = "0.1.0"
