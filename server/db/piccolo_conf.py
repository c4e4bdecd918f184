"""Piccolo's configuration module (``PICCOLO_CONF``): the engine for ``DATABASE_URL``.

``spikex run`` exports ``DATABASE_URL`` (the embedded PostgreSQL's, when none was given)
before anything imports this module.
"""

from piccolo.conf.apps import AppRegistry
from piccolo.engine.postgres import PostgresEngine

from server.config import load_settings

DB = PostgresEngine(config={"dsn": load_settings().database_url})

APP_REGISTRY = AppRegistry(apps=["server.db.piccolo_app"])
