"""Synthetic chest-film phantoms and demo datasets (`cxrclf demo-data`)."""
