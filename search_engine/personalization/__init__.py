"""Learned user-preference reranking: profiles and product statistics from events, features,
a LambdaMART model, and the reranker the engine runs for known users."""
