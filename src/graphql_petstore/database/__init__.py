"""The database half: where PostgreSQL is, its migrations, tables and errors."""
