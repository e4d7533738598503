# syntax=docker/dockerfile:1
# Build: a static, CGO-free binary (the ID map's SQLite is pure Go), with the
# version and VCS revision linked in: docker build --build-arg VERSION=v1.2.3
# --build-arg REVISION=$(git rev-parse HEAD) .  .ci/run runs the same build
# line, so what CI tests is what this image ships.
FROM golang:1.26-bookworm AS build
ARG VERSION=""
ARG REVISION=""
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X main.version=${VERSION} -X main.revision=${REVISION}" -o bin/smsbulk-shim ./cmd/smsbulk-shim
RUN mkdir -p /out/data

# Run: distroless static, non-root, the SQLite ID map on a volume. There is
# no shell: the HEALTHCHECK is the binary's own healthcheck command.
FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=""
ARG REVISION=""
LABEL org.opencontainers.image.title="smsbulk-shim" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
COPY --from=build /src/bin/smsbulk-shim /usr/local/bin/smsbulk-shim
# An empty /data owned by the runtime user, so a fresh named volume is writable.
COPY --from=build --chown=65532:65532 /out/data /data
ENV SHIM_ADDR=:8080 \
    SHIM_ADMIN_ADDR=:8082 \
    SHIM_IDMAP_DSN=/data/idmap.db
VOLUME /data
EXPOSE 8080 8082
USER nonroot:nonroot
HEALTHCHECK --interval=10s --timeout=4s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/smsbulk-shim", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/smsbulk-shim"]
