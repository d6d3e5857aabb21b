"""Query understanding: what a query names (brand, product type, model code, attribute
values), learned from the catalog itself, and the relevance ranker that uses it."""
