# The wangge app image used by docker-compose.yml (the database is the official PostGIS image).
FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY pyproject.toml README.md ./
COPY gis gis
COPY server server
COPY data data
COPY scripts/vendor.sh scripts/vendor.sh
# The same front-end build as `make vendor` (scripts/vendor.sh): Leaflet, the editor's Geoman, the map's VectorGrid.
RUN npm run --silent vendor \
 && pip install --no-cache-dir -e .
RUN useradd --system --home /app wangge
USER wangge
ENV WANGGE_DEMO_DIR=/app/data/boundaries/demo
EXPOSE 8000
