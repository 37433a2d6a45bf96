import os

from django.core.asgi import get_asgi_application

from shequ.core.charset import guard_asgi

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shequ.settings")
application = guard_asgi(get_asgi_application())  # type: ignore[arg-type]
