"""Use cases over the models: plain functions with keyword-only arguments."""
