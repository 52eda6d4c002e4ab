# One image for every notestream binary: build them all, then copy them onto a small base.
# The runtime base keeps a shell and wget for healthchecks and the compactor's nightly loop.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/ ./cmd/...

FROM alpine:3.22
# /data is owned by the runtime user so a fresh named volume mounted there is writable.
RUN adduser -D -H -u 10001 notestream && mkdir /data && chown notestream /data
COPY --from=build /out/ /usr/local/bin/
USER notestream
WORKDIR /home/notestream
