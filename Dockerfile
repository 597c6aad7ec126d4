# Production image for Tocsin. One image serves every role; the command picks it:
#   tocsin api      HTTP API (default)
#   tocsin worker   Temporal worker
#   tocsin migrate  apply database migrations and exit
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TOCSIN_HOST=0.0.0.0 \
    TOCSIN_PORT=8080 \
    TOCSIN_DATA_DIR=/var/lib/tocsin

# Unprivileged runtime user; the code stays owned by root and read-only to it.
RUN groupadd --system --gid 10001 tocsin \
 && useradd --system --uid 10001 --gid tocsin --no-create-home \
        --home-dir /var/lib/tocsin --shell /usr/sbin/nologin tocsin \
 && install -d -o tocsin -g tocsin -m 0750 /var/lib/tocsin

WORKDIR /app
COPY . /app
RUN pip install --no-cache-dir . \
 && rm -rf /app/build /app/*.egg-info

USER tocsin

EXPOSE 8080

CMD ["tocsin", "api"]
