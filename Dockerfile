# syntax=docker/dockerfile:1
# The vpnaas-operator image:   docker build -t REGISTRY/vpnaas-operator:0.1.0 .
#
# build      node:24-bookworm-slim: npm ci (with dev dependencies), then `npm run build` (tsc -p tsconfig.build.json)
#            compiles src/ to dist/ (the .ts import extensions are rewritten to .js).
# prod-deps  node:24-bookworm-slim: npm ci --omit=dev, the runtime dependencies only.
# final      gcr.io/distroless/nodejs24-debian12:nonroot. Chosen over node:24-bookworm-slim + USER because it holds
#            Node.js, glibc, CA certificates and tzdata and nothing else: no shell, no apt, no npm/corepack (whose own
#            dependencies are most of what scanners report against Node images), so a compromised process finds no
#            tools; it runs as uid/gid 65532 (nonroot) by default, matching runAsUser in deploy/deployment.yaml; and
#            it is Debian 12 like the build stages, so any native add-on built there would load. Debugging without a
#            shell: `kubectl debug -it POD --image=busybox --target=operator`.
#
# The image writes nothing to its filesystem: it runs with readOnlyRootFilesystem (deploy/ mounts an emptyDir at
# /tmp for Node and libraries that want one).
#
# The base images are build arguments whose defaults are the production images above; `make image` passes local
# stand-ins with the same layout when no registry is reachable (scripts/cluster/image.sh).
ARG BUILD_IMAGE=node:24-bookworm-slim
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian12:nonroot

FROM ${BUILD_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM ${BUILD_IMAGE} AS prod-deps
WORKDIR /src
COPY package.json package-lock.json ./
# The runtime dependencies are plain JavaScript: no install scripts need to run.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM ${RUNTIME_IMAGE}
LABEL org.opencontainers.image.title="vpnaas-operator" \
      org.opencontainers.image.description="Kubernetes operator: VpnService objects -> OpenStack Neutron VPNaaS VPN services" \
      org.opencontainers.image.licenses="Apache-2.0"
WORKDIR /app
ENV NODE_ENV=production
COPY --from=prod-deps /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
# "type": "module": dist/*.js are ES modules.
COPY package.json ./
USER 65532:65532
# distroless' own entrypoint is just node; the script goes into the entrypoint too, so that a Kubernetes `args:`
# (which replaces CMD) starts with the subcommand: args: [run, --leader-elect, ...].
ENTRYPOINT ["/nodejs/bin/node", "/app/dist/main.js"]
CMD ["run"]
