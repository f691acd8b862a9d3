"""The ASGI application, for `uvicorn service.app:app` (or `python -m service`, which runs it).

The app itself is built by service/api/factory.py from the settings in the environment.
"""

from __future__ import annotations

from service.api.factory import create_app

app = create_app()
