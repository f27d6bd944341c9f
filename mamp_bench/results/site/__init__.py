"""The leaderboard site (``mamp-bench site``): static HTML pages from the results store and the published rows.

``contents.py`` gathers what it shows with the suite's own functions (the records that verify, the tables);
``build.py`` writes it (``build_site``); ``pages.py``, ``row_pages.py``, ``comparison.py`` and ``catalogue.py``
are its pages, ``html.py`` and ``svg.py`` how they are written, ``assets/`` the hand-written script and
stylesheet it ships (no other file, no network).
"""
