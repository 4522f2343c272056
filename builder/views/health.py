"""`/healthz` for load balancers and uptime checks: public, cheap, and honest about the database."""

import logging

from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from builder.models import Sequence

logger = logging.getLogger(__name__)


@login_not_required
@never_cache
@require_safe
def healthz(request):
    # A query on one of our own tables, not just "SELECT 1": it also fails when the database
    # is reachable but migrations have not been run.
    try:
        Sequence.objects.only("pk").exists()
    except DatabaseError as error:
        logger.error("Health check: database unavailable: %s", type(error).__name__)
        return JsonResponse({"status": "error", "database": "unavailable"}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})
