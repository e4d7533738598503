# syntax=docker/dockerfile:1
# Build: a static, CGO-free binary (the ID map's SQLite is pure Go). .ci/run runs the same
# build line, so what CI tests is what this image ships.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o bin/smsbulk-shim ./cmd/smsbulk-shim
RUN mkdir -p /out/data

# Run: distroless static, non-root, the SQLite ID map on a volume.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /src/bin/smsbulk-shim /usr/local/bin/smsbulk-shim
# An empty /data owned by the runtime user, so a fresh named volume is writable.
COPY --from=build --chown=65532:65532 /out/data /data
ENV SHIM_ADDR=:8080 \
    SHIM_ADMIN_ADDR=:9090 \
    SHIM_IDMAP_DSN=/data/idmap.db
VOLUME /data
EXPOSE 8080 9090
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/smsbulk-shim"]
