from mamp_bench.cli import main

raise SystemExit(main())
