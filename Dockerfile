# The gateway image (also runs the emulators and the demo token issuer: one wheel holds all).
# No Docker engine runs where this project is developed: tests/test_deploy.py runs this
# image's command and environment directly (README "Running in production").

# --- stage 1: build the wheel, and wheels of every dependency ---------------------------------
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY gateway ./gateway
COPY emulators ./emulators
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# --- stage 2: the app installed from those wheels, nothing else ------------------------------
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    EHP_CONFIG=/etc/ehp/gateway.toml \
    EHP_SERVER__HOST=0.0.0.0 \
    EHP_SERVER__PORT=8000
RUN groupadd --system --gid 10001 ehp \
    && useradd --system --uid 10001 --gid ehp --no-log-init --home-dir /var/lib/ehp ehp \
    && install -d -o ehp -g ehp /var/lib/ehp /var/lib/ehp/keys /var/lib/ehp/population
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels ehp-gateway \
    && rm -rf /wheels
USER 10001:10001
WORKDIR /var/lib/ehp
EXPOSE 8000
# Python, not curl: the slim image has none, and the gateway needs no more.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('EHP_SERVER__PORT', '8000') + '/healthz', timeout=2)"]
CMD ["python", "-m", "gateway", "serve"]
