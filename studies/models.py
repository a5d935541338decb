"""Studies, conditions, participants, trials and ratings (see the listening-study issue)."""
