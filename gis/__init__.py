"""Pure spatial logic of wangge: GeoDataFrames and shapely geometries in and out.

Nothing in this package imports Flask, SQLAlchemy or psycopg, so every function here is
unit-testable without a database.
"""
