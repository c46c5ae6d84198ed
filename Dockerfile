# One image for the API and the worker; Redis and Chroma use their own images (docker-compose.yml).
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 DO_NOT_TRACK=1 \
    ANONYMIZED_TELEMETRY=False GPTU_DATA_DIR=/data
RUN apt-get update \
 && apt-get install -y --no-install-recommends libreoffice-writer-nogui libmagic1 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.lock requirements-nodeps.txt ./
RUN pip install --no-cache-dir -r requirements.lock \
 && pip install --no-cache-dir --no-deps -r requirements-nodeps.txt
COPY vendor ./vendor
RUN pip install --no-cache-dir --no-deps ./vendor/en_core_web_sm
COPY pyproject.toml ./
COPY core ./core
COPY ingest ./ingest
COPY answer ./answer
COPY app ./app
COPY worker ./worker
COPY slackbot ./slackbot
COPY api ./api
COPY cli ./cli
COPY frontend ./frontend
RUN pip install --no-cache-dir --no-deps -e .
RUN useradd --create-home gptu && mkdir -p /data && chown gptu /data
USER gptu
EXPOSE 8000
CMD ["gptu", "serve"]
