"""Learning from what people check: each clinic's hands, spot checks of auto values, identity fields vs the ERM."""
