#!/usr/bin/env bash
# Installs (with apt-get) and starts the brokers the test suite talks to:
# RabbitMQ and nats-server, plus fuse3 for the LazyFS crash test and Debian's
# prometheus package for promtool (the alert rules' unit tests and the check
# of the bridge's /metrics). Idempotent:
# what is installed is not reinstalled, what runs is left running.
set -euo pipefail

log() { echo "brokers: $*" >&2; }

SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    log "not root and no sudo: cannot install missing packages"; fi
fi

apt_updated=""
need_pkg() { # need_pkg PACKAGE COMMAND-OR-FILE
  if command -v "$2" >/dev/null 2>&1 || [ -e "$2" ]; then return; fi
  log "installing $1"
  if [ -z "$apt_updated" ]; then
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq || log "apt-get update failed; trying install anyway"
    apt_updated=1
  fi
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$1" >/dev/null
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

need_pkg rabbitmq-server /usr/sbin/rabbitmq-server
need_pkg nats-server /usr/sbin/nats-server
need_pkg fuse3 fusermount3
# Only promtool is wanted; on a host with systemd the package also enables a
# Prometheus server on :9090, which the tests neither use nor disturb.
need_pkg prometheus promtool

if ! port_open 5672; then
  log "starting RabbitMQ"
  $SUDO rabbitmq-server -detached >/dev/null 2>&1 || true
fi
# A cold start takes ~10 s and await_startup called too early exits non-zero,
# so loop on it.
for i in $(seq 1 60); do
  if $SUDO rabbitmqctl -q await_startup >/dev/null 2>&1 && port_open 5672; then break; fi
  [ "$i" = 60 ] && { log "RabbitMQ did not start within 120 s"; exit 1; }
  sleep 2
done
log "RabbitMQ ready on 127.0.0.1:5672"

if ! port_open 4222; then
  log "starting nats-server with JetStream"
  $SUDO mkdir -p /var/lib/nats-server
  $SUDO start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
  for i in $(seq 1 30); do port_open 4222 && break; sleep 0.5; done
fi
port_open 4222 || { log "nats-server did not start"; exit 1; }
log "NATS ready on 127.0.0.1:4222"
