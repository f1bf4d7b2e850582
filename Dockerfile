# Image for compose.yaml's `app` service. Builds llama-cpp-python from source (no GPU).
FROM python:3.11-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential cmake make \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY . .
RUN make install PYTHON=python3.11
EXPOSE 8000
CMD [".venv/bin/radassist", "serve", "--host", "0.0.0.0", "--port", "8000"]
