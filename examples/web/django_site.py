"""The Django example service in one file: settings, views and URLs.

    DJANGO_SETTINGS_MODULE=django_site opentelemetry-instrument \
        gunicorn -b 127.0.0.1:8002 --chdir examples/web django_wsgi:application

Contrib's Django instrumentation needs ``DJANGO_SETTINGS_MODULE`` set when
``opentelemetry-instrument`` starts. Routes as in the other examples:
``/orders?ms=2`` and ``/search?fail=1``.
"""

from __future__ import annotations

import time

from django.http import HttpRequest, JsonResponse
from django.urls import path

DEBUG = False
SECRET_KEY = "example-only-not-a-secret"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "django_site"
MIDDLEWARE: list[str] = []
INSTALLED_APPS: list[str] = []
DATABASES: dict[str, object] = {}
USE_TZ = True


def orders(request: HttpRequest) -> JsonResponse:
    time.sleep(min(float(request.GET.get("ms", "2")), 2000.0) / 1000.0)
    return JsonResponse({"orders": [{"id": 1, "total": 12.5}]})


def search(request: HttpRequest) -> JsonResponse:
    if request.GET.get("fail"):
        return JsonResponse({"error": "index unavailable"}, status=500)
    return JsonResponse({"results": ["book", "lamp"]})


urlpatterns = [path("orders", orders), path("search", search)]
