"""Alembic environment, driven programmatically by ``assistant.db.engine.migrate``.

There is no alembic.ini: the caller passes an open connection in
``config.attributes["connection"]`` so migrations run on exactly the engine
(and SQLite pragmas) the application uses.
"""

from __future__ import annotations

from alembic import context

from assistant.db.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "Xiao Shen migrations run through assistant.db.open_database(url); "
        "there is no alembic.ini to run them from the alembic command line"
    )

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite cannot ALTER most things in place; batch mode copies the table.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
