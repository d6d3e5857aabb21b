"""Recommendations without a query: for a shopper, bought together, trending."""
