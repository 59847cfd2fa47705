"""Resolved tickets become CASE_SUMMARY documents: detect, redact, summarise, tag, store, index."""
