"""Storage: models, the database, migrations, and the SQL of each aggregate."""
