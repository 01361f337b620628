"""The HTTP edge: ``create_app(settings)`` in ``app``, bodies in ``schemas``, one router per area in ``routes``."""
