from django.apps import AppConfig


class BuilderConfig(AppConfig):
    name = "builder"
    verbose_name = "Sequence Builder"

    def ready(self):
        from builder import middleware  # noqa: F401 - connects the log-in signal (sessions)
