"""Converters that write the evaluation format from public data sets and from the store."""
