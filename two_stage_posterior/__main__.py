from two_stage_posterior.cli import main

raise SystemExit(main())
