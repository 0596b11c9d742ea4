"""ERM catch-up: what the ERM knows, patient matching, the reconciliation plan, the ledger and the push."""
