# One image for the API, the worker, the migration and the llama.cpp server (docker-compose.yml);
# Redis, Chroma and Postgres use their own images. Two stages: llama-cpp-python is compiled in
# the first, and the second gets only its wheel, so the image has no compiler and no dev tools.

# Same version and portable CPU flags as the Makefile (the default native build dies with SIGILL
# on VMs that advertise AMX). A GPU owner overrides them, e.g. --build-arg
# GPTU_CMAKE_ARGS="-DGGML_CUDA=on" with CUDA base images (docs/compose.md).
ARG LLAMA_VERSION=0.3.36
ARG GPTU_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DLLAVA_BUILD=OFF"
ARG BUILD_IMAGE=python:3.11-slim-bookworm
ARG RUNTIME_IMAGE=python:3.11-slim-bookworm

FROM ${BUILD_IMAGE} AS llama
ARG LLAMA_VERSION
ARG GPTU_CMAKE_ARGS
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential cmake \
 && rm -rf /var/lib/apt/lists/*
RUN CMAKE_ARGS="${GPTU_CMAKE_ARGS}" pip wheel --no-cache-dir --no-deps --wheel-dir /wheels \
    "llama-cpp-python==${LLAMA_VERSION}"

FROM ${RUNTIME_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 DO_NOT_TRACK=1 \
    SCARF_NO_ANALYTICS=1 ANONYMIZED_TELEMETRY=False GPTU_DATA_DIR=/data
# libgomp1: llama.cpp's OpenMP threads; LibreOffice reads legacy .doc/.ppt; libmagic1 file types;
# git: git repository sources.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libreoffice-writer-nogui libmagic1 libgomp1 git \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# Runtime pins only (requirements-dev.lock, the test and lint tools, stays out).
COPY requirements.lock requirements-nodeps.txt ./
RUN pip install --no-cache-dir -r requirements.lock \
 && pip install --no-cache-dir --no-deps -r requirements-nodeps.txt
# COPY, not RUN --mount=type=bind,from=llama: podman 4.3 cannot bind-mount a stage that was
# taken from its cache ("couldn't find …/merged/wheels"), so any change to an earlier layer
# broke the build; the wheel's few MB in a layer are the price.
COPY --from=llama /wheels /tmp/wheels
RUN pip install --no-cache-dir --no-deps /tmp/wheels/llama_cpp_python-*.whl
COPY vendor ./vendor
RUN pip install --no-cache-dir --no-deps ./vendor/en_core_web_sm
COPY pyproject.toml ./
COPY core ./core
COPY ingest ./ingest
COPY answer ./answer
COPY sources ./sources
COPY app ./app
COPY worker ./worker
COPY slackbot ./slackbot
COPY api ./api
COPY cli ./cli
# tune/ is copied for its standard-library run config only: training needs .venv-tune (torch,
# transformers, peft), which the image never has.
COPY tune ./tune
COPY gptu_client ./gptu_client
# Read by path from the code: the web pages (api/main.py) and the model catalog (core/models.py).
COPY frontend ./frontend
COPY models ./models
RUN pip install --no-cache-dir --no-deps -e .
RUN useradd --create-home gptu && mkdir -p /data && chown gptu /data
USER gptu
EXPOSE 8000
CMD ["gptu", "serve"]
