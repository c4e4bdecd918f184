"""PostgreSQL schema: piccolo tables, their migrations and piccolo's configuration."""

import os

# Piccolo finds its engine and apps through this module path (its migration runner too).
os.environ.setdefault("PICCOLO_CONF", "server.db.piccolo_conf")
