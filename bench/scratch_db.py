"""A scratch PostgreSQL database and Redis db for a bench that runs the real server: created fresh, dropped at
the end, so a bench never touches a developer's or a test's state."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import psycopg

PG_SERVER = "postgres://postgres@127.0.0.1:5432"


@dataclass(frozen=True)
class ScratchDatabase:
    name: str
    redis_url: str

    def environment(self, data_dir: Path) -> dict[str, str]:
        """Settings for the bench process and every server or worker it starts."""
        return {
            "HYBRIDPREF_ENV": "dev",
            "HYBRIDPREF_DATA_DIR": str(data_dir),
            "DATABASE_URL": f"{PG_SERVER}/{self.name}",
            "CELERY_BROKER_URL": self.redis_url,
            "REDIS_URL": self.redis_url,
            "DJANGO_SETTINGS_MODULE": "platform.settings",
            "LOG_LEVEL": "WARNING",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
        }

    def exists(self) -> bool:
        return bool(_server_sql(f"SELECT 1 FROM pg_database WHERE datname = '{self.name}'"))

    def recreate(self) -> None:
        """Drop and create it: a previous run's leftovers never skew this one."""
        _server_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        _server_sql(f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        _server_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def _server_sql(statement: str) -> list[tuple]:
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        cursor = conn.execute(statement)
        return cursor.fetchall() if cursor.description else []
