# syntax=docker/dockerfile:1
# Build: docker build -t kvgate .
# Run:   docker run --rm -p 8080:8080 -v $PWD/config:/etc/kvgate -v kvgate-data:/var/lib/kvgate kvgate serve --config /etc/kvgate/gateway.yaml
#        docker run --rm -p 8080:8080 kvgate demo --bind 0.0.0.0   (gateway + simulated fleet, no GPU)

FROM eclipse-temurin:17-jdk AS build
WORKDIR /src
COPY . .
# The Maven Wrapper fetches Maven; dependencies come from Maven Central. A BuildKit cache mount
# keeps ~/.m2 between builds without baking it into a layer.
RUN --mount=type=cache,target=/root/.m2 ./mvnw -B -ntp -q -pl gateway -am package -DskipTests

FROM eclipse-temurin:25-jre
RUN groupadd --system kvgate && useradd --system --gid kvgate --home-dir /opt/kvgate --shell /usr/sbin/nologin kvgate \
  && mkdir -p /var/lib/kvgate && chown kvgate:kvgate /var/lib/kvgate
COPY --from=build /src/gateway/target/kvgate.jar /opt/kvgate/kvgate.jar
COPY --from=build /src/config /opt/kvgate/config
# The batch lane's files, batches and results (kvgate-data/ here, docs/BATCH.md): mount a volume to
# keep them across containers.
WORKDIR /var/lib/kvgate
VOLUME /var/lib/kvgate
USER kvgate
# 8080: OpenAI-compatible API, /health and /ready; 8081: the admin listener (/metrics, /admin/*),
# loopback unless started with --admin-host 0.0.0.0; 9090: the gRPC listener (engines' KV events,
# the admin API), off unless started with --grpc-port 9090 --grpc-host 0.0.0.0 (or grpc: in the config).
EXPOSE 8080 8081 9090 5701
# ZGC (generational on JDK 25): pauses of at most 0.22 ms where G1 and Parallel paused 23-39 ms at
# their p99, at no throughput difference the benchmark could resolve (docs/BENCHMARKS.md §3).
ENV JAVA_TOOL_OPTIONS="-XX:+UseZGC -XX:MaxRAMPercentage=75"
# No curl in the JRE image: bash's /dev/tcp is enough for a liveness probe.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD bash -c 'exec 3<>/dev/tcp/127.0.0.1/8080 && printf "GET /health HTTP/1.0\r\nHost: localhost\r\n\r\n" >&3 && head -1 <&3 | grep -q " 200"'
ENTRYPOINT ["java", "-jar", "/opt/kvgate/kvgate.jar"]
CMD ["serve", "--config", "/opt/kvgate/config/gateway.yaml"]
