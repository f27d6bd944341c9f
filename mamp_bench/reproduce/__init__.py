"""``nox -s reproduce`` / ``mamp-bench reproduce``: the paper's matrix as a resumable set of jobs."""
