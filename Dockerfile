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
RUN mkdir -p server/web/static/vendor/leaflet \
 && cp -r node_modules/leaflet/dist/leaflet.js node_modules/leaflet/dist/leaflet.css node_modules/leaflet/dist/images \
          server/web/static/vendor/leaflet/ \
 && pip install --no-cache-dir -e .
RUN useradd --system --home /app wangge
USER wangge
ENV WANGGE_DEMO_DIR=/app/data/boundaries/demo
EXPOSE 8000
