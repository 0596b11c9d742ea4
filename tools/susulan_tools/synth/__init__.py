"""Synthetic filled forms: realistic patients, handwriting and scanner/phone aging (samples and training)."""
