# syntax=docker/dockerfile:1
#
# consumer-authz image: ext_authz + grpc.health.v1 on 9001, admin HTTP API on 9002 (loopback).
#
# Base: Node.js 24 "Krypton" LTS (supported until April 2028), Debian 13 "trixie" slim, pinned to a
# patch release so a rebuild tomorrow gets the same runtime. Node 26 entered Active LTS on
# 2026-10-28; to move to it, pass --build-arg NODE_IMAGE=node:26.<patch>-trixie-slim (the service
# needs Node >= 20.19, see package.json "engines"). For reproducible production builds, also pin the
# digest: node:24.20.0-trixie-slim@sha256:<digest>.
ARG NODE_IMAGE=node:24.20.0-trixie-slim

# ---- build: full dependency tree, TypeScript -> dist/ ---------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# The web console (served by the admin API at /) is built by the same script.
COPY console ./console
COPY scripts ./scripts
RUN npm run build

# ---- deps: production dependencies only ------------------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# ---- runtime ---------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    GRPC_HOST=0.0.0.0 \
    GRPC_PORT=9001 \
    ADMIN_HOST=127.0.0.1 \
    ADMIN_PORT=9002 \
    DATA_FILE=/app/data/consumers.json \
    LOG_LEVEL=info
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# proto/ is read at run time by @grpc/proto-loader.
COPY package.json ./
COPY proto ./proto
COPY bin ./bin
# `consumer-authz` on PATH, so `docker compose exec authz consumer-authz ...` works. A wrapper rather
# than a symlink: it needs neither a shebang nor an exec bit on bin/consumer-authz.
# /app/data is the embedded store's directory (used only when REDIS_URL is unset).
RUN printf '#!/bin/sh\nexec node /app/bin/consumer-authz "$@"\n' > /usr/local/bin/consumer-authz \
 && chmod 0755 /usr/local/bin/consumer-authz \
 && mkdir -p /app/data \
 && chown 1000:1000 /app/data
# The image's "node" user, by number: Kubernetes runAsNonRoot can only verify a numeric user.
USER 1000:1000
EXPOSE 9001 9002
# The admin API listens on 127.0.0.1 inside the container, which is where this check runs.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9002/readyz',{signal:AbortSignal.timeout(2500)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
STOPSIGNAL SIGTERM
CMD ["node", "dist/src/main.js"]
