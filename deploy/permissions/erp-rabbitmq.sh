#!/usr/bin/env bash
# RabbitMQ permissions for the ERP side of dmzbridge: the one-way link.
# The bridge's user may write to the ERP exchange only: no configure right
# (it declares nothing; leave declare_exchange: false), no read right (it
# consumes nothing). Run once on the ERP broker as an administrator.
set -euo pipefail
VHOST="${VHOST:-erp}"
EXCHANGE="${EXCHANGE:-erp.events}"
: "${DMZBRIDGE_ERP_PASSWORD:?set DMZBRIDGE_ERP_PASSWORD}"

rabbitmqctl add_user dmzbridge "$DMZBRIDGE_ERP_PASSWORD" 2>/dev/null ||
  rabbitmqctl change_password dmzbridge "$DMZBRIDGE_ERP_PASSWORD"
# configure  write            read
rabbitmqctl set_permissions -p "$VHOST" dmzbridge '^$' "^${EXCHANGE//./\\.}\$" '^$'
# Topic permissions narrow it further to the routing keys the bridge uses
# ({partner}.{type}).
rabbitmqctl set_topic_permissions -p "$VHOST" dmzbridge "$EXCHANGE" '^[a-z0-9_-]+\..+$' '^$'
