from dskd.cli import main

raise SystemExit(main())
