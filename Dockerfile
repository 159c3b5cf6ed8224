# The worker image (also runs Flower, beat and the producer: one image, one set of task names).
#
#   docker build -t tryon-worker .
#   docker compose up -d --scale worker=4          (see docker-compose.yml)
#
# Weights are baked in at build time (`make models` = python -m models.weights.fetch): the geometric
# chain's BlazePose/face/selfie files come out of the pinned mediapipe wheel, so the build needs
# PyPI. The seed chain's files (OpenPose, LIP, GMM, TOM) are fetched too where their hosts are
# reachable; otherwise put them into docker/seed-weights/ before building (see the README there) —
# absent seed files are reported by the build, and the chain then runs the geometric stages.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TRYON_WEIGHTS_DIR=/opt/tryon/weights

# Non-root: the tasks decode untrusted images; a decoder bug must not hand out root.
RUN groupadd --gid 10001 tryon \
 && useradd --uid 10001 --gid 10001 --create-home --shell /usr/sbin/nologin tryon \
 && mkdir -p /opt/tryon/weights \
 && chown tryon:tryon /opt/tryon/weights

WORKDIR /app

# Dependencies first: this layer survives code edits. (opencv-python-headless and
# onnxruntime wheels bundle their libraries: the slim base needs no apt packages.)
COPY requirements.txt .
RUN pip install -r requirements.txt

# Weights next, as the user that will read them; only models/ invalidates this layer.
COPY models/ models/
COPY --chown=10001:10001 docker/seed-weights/ /opt/tryon/weights/
# Numeric: Kubernetes' runAsNonRoot can only verify a numeric user.
USER 10001:10001
RUN python -m models.weights.fetch \
 && python -c "from models.chain import declared_weights; from models.weights import resolve; \
[print('ok:', resolve(w)) for w in declared_weights() if w.wheel_member]"

COPY worker/ worker/
COPY producer/ producer/
COPY scripts/ scripts/

# Cheap enough at this interval (~1 s of CPU, ~60 MB for a moment): the worker answers its
# own ping only while its consumer is alive. Compose disables or replaces it for the
# services that are not workers (flower, beat, producer).
HEALTHCHECK --interval=60s --timeout=30s --start-period=120s --retries=3 \
  CMD ["/bin/sh", "-c", "celery -A worker.celery_app inspect ping -d tryon@$HOSTNAME --timeout 10 > /dev/null"]

# One task at a time per process (acks_late: a killed worker's task is delivered again).
# No -Q: the worker consumes the app's default queue, $TRYON_QUEUE (worker/config.py).
CMD ["celery", "-A", "worker.celery_app", "worker", "-n", "tryon@%h", "--prefetch-multiplier=1", "--loglevel=INFO"]
