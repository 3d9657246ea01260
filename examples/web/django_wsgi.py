"""The Django example's WSGI entry point (apart from the settings module it loads)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_site")
application = get_wsgi_application()
