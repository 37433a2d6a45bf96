import os

from django.core.wsgi import get_wsgi_application

from shequ.core.charset import guard_wsgi

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shequ.settings")
application = guard_wsgi(get_wsgi_application())
