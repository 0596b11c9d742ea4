"""The only modules that start subprocesses (poppler, tesseract): probes, timeouts, clear errors."""
