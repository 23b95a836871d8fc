# Multi-stage build: a static fleetgate binary on a distroless base.
#   docker build -t fleetgate .
#   docker run fleetgate controlplane --config /etc/fleetgate/controlplane.yaml
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/fleetgate ./cmd/fleetgate

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/fleetgate /usr/local/bin/fleetgate
USER nonroot:nonroot
EXPOSE 18000 18080
ENTRYPOINT ["/usr/local/bin/fleetgate"]
CMD ["--help"]
