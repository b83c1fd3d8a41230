# The kfake test broker (testdata/broker) as an image, for the Docker suite.
# Nothing is pulled: a static binary on an empty base.
#
#   CGO_ENABLED=0 go build -o DIR/broker ./testdata/broker
#   docker build -t swarm-broker -f testdata/docker/broker.Dockerfile DIR
#
# It listens on 0.0.0.0:9092 and advertises <hostname>:9092, so run it with
# --hostname NAME --network-alias NAME on a user-defined network and the other
# containers reach it as NAME:9092. Extra arguments (-topics, -partitions,
# -records) are appended to the entrypoint.
FROM scratch
COPY broker /broker
EXPOSE 9092
ENTRYPOINT ["/broker", "-addr", "0.0.0.0:9092"]
