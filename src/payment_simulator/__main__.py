from payment_simulator.server import main

raise SystemExit(main())
