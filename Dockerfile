# The swarm image: one static binary on an empty base. Nothing is pulled.
#
# Build, from the repository root:
#
#   CGO_ENABLED=0 go build -o swarm . && docker build -t swarm .
#
# (add -trimpath -ldflags "-s -w -X main.version=v1.2.3" for a release).
# The binary must be static, hence CGO_ENABLED=0: FROM scratch has no libc,
# no shell, no CA certificates (for -tls, mount a PEM file and pass -tls-ca,
# or mount one at /etc/ssl/certs/ca-certificates.crt). The context is the
# repository root, but .dockerignore sends only the swarm binary to the
# daemon. Any directory holding just a "swarm" binary works as well:
# docker build -t swarm -f Dockerfile DIR.
#
# Run: the supervisor is the container's PID 1 (it handles every signal
# itself and reaps orphans). Every flag can also be set as SWARM_<NAME>.
# Static membership ids default to the container's hostname (-instance-id),
# so each replica gets its own.
#
#   docker run --rm swarm -bootstrap kafka:9092 -topics orders -nodes 4
#
# docker stop sends SIGTERM and sends SIGKILL 10 s later: give it more than
# -shutdown-timeout (docker stop -t N, docker run --stop-timeout N).
FROM scratch
COPY swarm /swarm
ENTRYPOINT ["/swarm"]
