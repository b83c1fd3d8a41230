# The swarm image plus a test handler command (testdata/leaky), for the
# Docker suite's memory-limit test. Nothing is pulled: static binaries on an
# empty base, built into one directory DIR first:
#
#   CGO_ENABLED=0 go build -o DIR/swarm . && CGO_ENABLED=0 go build -o DIR/leaky ./testdata/leaky
#   docker build -t swarm-leaky -f testdata/docker/handler.Dockerfile DIR
#   docker run --memory 128m swarm-leaky -memory-limit 48 ... -- /leaky -kib 128
FROM scratch
COPY swarm /swarm
COPY leaky /leaky
ENTRYPOINT ["/swarm"]
