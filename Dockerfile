# The search API in a container: the serving install (no torch) over the bundled Icecat demo index.
#   podman build -t shop-search .      (or docker build)
#   podman run -p 8000:8000 shop-search
# The build stage has the full install (torch, CPU build) to encode the catalog and export the
# towers into the index; the image that runs has only the serving install and that index.

# Any image with Python 3.11+ and venv (podman build --build-arg BASE=... where no registry is reachable).
ARG BASE=python:3.11-slim

FROM ${BASE} AS build
WORKDIR /app
COPY . .
# The CPU build of torch (PyPI's Linux build is the CUDA one, several GB); scripts/install.sh.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
RUN TORCH_INDEX_URL="$TORCH_INDEX_URL" bash scripts/install.sh \
    && .venv/bin/search-demo --no-serve --index /app/index

FROM ${BASE}
# LightGBM (the rankers) needs the GNU OpenMP runtime, which slim images lack.
RUN (command -v apt-get >/dev/null && apt-get update && apt-get install -y --no-install-recommends libgomp1 \
        && rm -rf /var/lib/apt/lists/*) ; useradd --create-home --uid 10001 search
WORKDIR /app
COPY --chown=search . .
RUN bash scripts/install.sh --serve && mkdir -p /app/var && chown search /app/var
COPY --from=build --chown=search /app/index /app/index
USER search
# Events, rules, judgments and experiments are written under /app/var (a volume in compose.yaml).
ENV SEARCH_INDEX_ROOT=/app/index PYTHONUNBUFFERED=1
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["/app/.venv/bin/python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status != 200)"]
CMD ["/app/.venv/bin/search-serve", "--index", "/app/index", "--host", "0.0.0.0", "--port", "8000"]
