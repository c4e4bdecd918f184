"""Piccolo's app config: the tables and the folder of their migrations."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from server.db.tables import (
    ApiKey,
    Dataset,
    DocumentSnapshot,
    DocumentUpdate,
    DocumentVersion,
    LibraryComponent,
    Model,
    Run,
    RunLog,
    RunMetric,
    User,
)

APP_CONFIG = AppConfig(
    app_name="spikex",
    migrations_folder_path=str(Path(__file__).parent / "migrations"),
    table_classes=[
        User,
        Model,
        DocumentUpdate,
        DocumentSnapshot,
        DocumentVersion,
        Run,
        RunMetric,
        RunLog,
        ApiKey,
        LibraryComponent,
        Dataset,
    ],
)
