"""`python -m shequ` and the `shequ` command: Django's manage.py under Shequ's settings.

Commands may be spelled with hyphens (`shequ demo-community`): module names need underscores,
people type hyphens, so both reach the same command.
"""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shequ.settings")
    from django.core.management import execute_from_command_line

    argv = list(sys.argv)
    if len(argv) > 1 and not argv[1].startswith("-"):
        argv[1] = argv[1].replace("-", "_")
    execute_from_command_line(argv)


if __name__ == "__main__":
    main()
