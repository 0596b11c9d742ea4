"""Streamlit review app: staff check and correct what the pipeline read, in Bahasa Indonesia."""
