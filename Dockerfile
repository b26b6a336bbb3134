# Carebook production image: `docker compose up` builds it, migrates PostgreSQL and serves on :8000.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# WeasyPrint (receipts, superbills) needs Pango/HarfBuzz and a font; without libharfbuzz-subset0 it
# falls back to a font subsetter about 8x slower (PDF_PACKAGES in the Makefile; a test checks this installs every one).
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

# A regular (non-editable) install: the wheel carries scheduler/, billing/, the migrations and, via
# hatch force-include, templates/ and static/ as carebook_templates/ and carebook_static/.
COPY . /src
RUN pip install /src && rm -rf /src

RUN useradd --create-home --uid 10001 --user-group carebook \
    && mkdir -p /app/var \
    && chown -R carebook:carebook /app
WORKDIR /app
USER carebook

EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]

# Migrations run on every start (idempotent), then the server.
CMD ["sh", "-c", "carebook db upgrade && carebook serve --host 0.0.0.0 --port 8000"]
