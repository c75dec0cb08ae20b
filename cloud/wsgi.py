"""The WSGI entry point for a central host: ``gunicorn cloud.wsgi:app``.

Configuration comes from the environment and the TOML file as everywhere else
(``AQUASTAND_DATA_DIR``, ``AQUASTAND_DATABASE_URL``, ``AQUASTAND_CONFIG``). The schema is
not created here: run ``aquastand-cloud init`` first (``aquastand-cloud serve`` checks it)."""

from cloud import create_app

app = create_app()
