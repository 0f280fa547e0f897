"""Entry point of a file import's reader process (spawned, so Django is set up here first; this
module imports nothing of the project at import time)."""


def run(path: str, queue) -> None:
    import django

    django.setup()
    from .services.imports import read_ahead

    read_ahead(path, queue)
