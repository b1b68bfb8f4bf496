# The lineagegraph cluster agent (`lineagegraph watch k8s`) as a container image.
#   docker build -f deploy/agent.Dockerfile -t lineagegraph-k8s-agent:0.1.0 .
# Runs as an unprivileged user; its state (checkpoints, the Neo4j-down buffer) goes to the volume
# at /var/lib/lineagegraph-agent. Neo4j's address and password come from NEO4J_URI / NEO4J_PASSWORD.
FROM python:3.12-slim AS build
WORKDIR /src
# Only what the package is built from (setup.py maps the top-level folders into one namespace).
COPY pyproject.toml setup.py README.md ./
COPY lineagegraph ./lineagegraph
COPY cli ./cli
COPY importers ./importers
COPY cypher ./cypher
COPY services ./services
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.12-slim
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels \
    && useradd --system --uid 10001 --home-dir /var/lib/lineagegraph-agent --create-home agent
USER 10001
WORKDIR /var/lib/lineagegraph-agent
VOLUME ["/var/lib/lineagegraph-agent"]
EXPOSE 8080
ENTRYPOINT ["lineagegraph"]
CMD ["watch", "k8s", "--state-dir", "/var/lib/lineagegraph-agent", "--health-host", "0.0.0.0", "--health-port", "8080"]
