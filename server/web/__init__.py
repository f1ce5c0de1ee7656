"""Pages, sign-in, OGC API and tiles: everything that renders for a browser or a GIS client."""
