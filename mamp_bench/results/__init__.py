"""Result records, the results store, published numbers and the leaderboard tables."""
