"""`python -m shequ_vision analyse SOURCE ...`: see shequ_vision.cli."""

from shequ_vision.cli import main

raise SystemExit(main())
