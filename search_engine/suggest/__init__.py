"""Query suggestions as the shopper types (GET /suggest): phrases from the catalog and from
what shoppers searched, ranked, typo-tolerant, checked against the serving index."""
