#!/bin/sh
# Copy the front-end libraries the pages load from node_modules into the app's static folder.
# The ONE place that decides which files are vendored: `npm run vendor` runs it, and both the Makefile's
# `vendor` target and the Dockerfile call that (tests/unit/test_vendor.py checks the templates' needs).
# VENDOR_DIR overrides the destination (the tests build into a temporary folder).
set -eu
cd "$(dirname "$0")/.."
DEST="${VENDOR_DIR:-server/web/static/vendor}"
LEAFLET=node_modules/leaflet/dist
GEOMAN=node_modules/@geoman-io/leaflet-geoman-free/dist
VECTORGRID=node_modules/leaflet.vectorgrid/dist

mkdir -p "$DEST/leaflet" "$DEST/geoman" "$DEST/vectorgrid"
cp -r "$LEAFLET/leaflet.js" "$LEAFLET/leaflet.css" "$LEAFLET/images" "$DEST/leaflet/"
cp "$GEOMAN/leaflet-geoman.min.js" "$GEOMAN/leaflet-geoman.css" "$DEST/geoman/"
# The bundled build carries its own pbf and vector-tile decoders: one file, no module loader.
cp "$VECTORGRID/Leaflet.VectorGrid.bundled.min.js" "$DEST/vectorgrid/"
echo "vendored Leaflet, Geoman and VectorGrid into $DEST"
