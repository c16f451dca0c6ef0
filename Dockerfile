# syntax=docker/dockerfile:1
#
# The sala binary in a small image. Build from the repository root:
#
#   docker build -t sala .
#   docker run --rm -p 3000:3000 sala            # one node, SQLite inside the container
#
# deploy/docker-compose.yml builds this image for its auth and chat nodes and sets their
# flags through SALA_* variables (docs/deploy.md).

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
# The cache mounts (BuildKit) keep downloaded crates and compiled dependencies between
# builds. The target dir is a cache, not part of the image, so the binary is copied out in
# the same step. --locked: build exactly the versions in Cargo.lock.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p sala \
    && cp target/release/sala /usr/local/bin/sala

FROM debian:bookworm-slim
# ca-certificates: the assistant's HTTPS calls to an OpenAI-compatible endpoint check the
# server's certificate against the system's roots.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
# An unprivileged user; its home holds the data dir (SQLite and a generated JWT secret when
# the node has no --database-url or --jwt-secret; empty otherwise).
RUN useradd --system --create-home --home-dir /var/lib/sala --shell /usr/sbin/nologin sala
COPY --from=build /usr/local/bin/sala /usr/local/bin/sala
USER sala
WORKDIR /var/lib/sala
# Listen on every interface of the container; the default, 127.0.0.1, would be unreachable
# from other containers. Chat nodes listen on 3000, auth nodes on 4000.
ENV SALA_HOST=0.0.0.0 \
    SALA_DATA_DIR=/var/lib/sala/data
EXPOSE 3000 4000
ENTRYPOINT ["sala", "serve"]
