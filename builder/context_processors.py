from django.conf import settings


def close_mode(request):
    """Tell every page whether it talks to the local Close sandbox (demo mode) or to Close."""
    return {"close_demo_mode": settings.CLOSE_DEMO_MODE}
