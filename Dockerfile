# bfe-ts in a container.
#   docker build -t bfe-ts .
#   docker run --rm -p 8080:8080 -p 8443:8443 -p 8421:8421 \
#     -v "$PWD/conf:/opt/bfe/conf:ro" bfe-ts
# The image's conf/ is the bundled example without its certificate: mount your own configuration
# root on /opt/bfe/conf (tls_conf/certs included). Logs go to /opt/bfe/log and, with -s, stdout.
# docs/operations.md, "Containers and systemd", explains the stop signal and the health check.

# ---- build: compile the TypeScript sources (without their tests) ----------------------------
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx tsc -p tsconfig.build.json

# ---- runtime: production dependencies, dist/src and conf only --------------------------------
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /opt/bfe
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /src/dist/src ./dist/src
COPY conf ./conf
RUN mkdir -p /opt/bfe/log && chown node:node /opt/bfe/log
USER node
EXPOSE 8080 8443 8421
# SIGQUIT is bfe's graceful shutdown: in-flight requests finish, keep-alive connections close,
# HTTP/2 gets GOAWAY, the process exits 0 within GracefulShutdownTimeout (10 s by default).
# Give `docker stop -t` more than GracefulShutdownTimeout (its default 10 s is just enough for
# the default; use -t 15 or more).
STOPSIGNAL SIGQUIT
# Liveness: the monitor port's /healthz (200 ok). Set BFE_MONITOR_PORT when bfe.conf's
# MonitorPort is not 8421.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.BFE_MONITOR_PORT||8421)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "dist/src/main.js"]
CMD ["-c", "/opt/bfe/conf", "-l", "/opt/bfe/log", "-s"]
