"""Online experiments: A/B tests and team-draft interleaving of search configurations, their
assignment, serving, tally from the event log and statistics."""
