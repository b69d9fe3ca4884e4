# One image, one binary; the service is chosen by the command (gateway | scheduler | worker).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --bin workflow-engine

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* && useradd --system --uid 10001 chorus
COPY --from=build /src/target/release/workflow-engine /usr/local/bin/workflow-engine
USER chorus
EXPOSE 8081 50051
ENTRYPOINT ["/usr/local/bin/workflow-engine"]
