# Small non-root image running `shegong serve`. Build: docker build -t shegong .
FROM python:3.11-slim AS build
WORKDIR /src
# Dependencies at the versions in requirements.lock (tools/lock_requirements.py), then the app without
# letting pip pick any other version.
COPY requirements.lock ./
RUN pip install --no-cache-dir --prefix=/install -r requirements.lock
COPY pyproject.toml README.md ./
COPY bot bot
COPY handlers handlers
COPY knowledge knowledge
RUN pip install --no-cache-dir --prefix=/install --no-deps .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 shegong
COPY --from=build /install /usr/local
USER shegong
ENV SHEGONG_DATA_DIR=/home/shegong/data \
    PYTHONUNBUFFERED=1
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status == 200 else 1)"
CMD ["shegong", "serve", "--host", "0.0.0.0", "--port", "8080"]
