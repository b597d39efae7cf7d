#!/bin/sh
# Runs a command in a network namespace of its own: loopback, and a veth
# pair on a benchmarking range (198.18.0.1/24 and .2, no route out) that
# carries the default route. Browsers gather WebRTC candidates on their
# default-route interface only (Firefox never on loopback), so WebRTC
# between pages and to a node's WebRTC-direct listener needs an address
# other than 127.0.0.1, and none on the machine's real network may be used.
# The command sees WEFT_NETNS_IP=198.18.0.1, the address the test node
# listens on for WebRTC-direct.
#
#   tests/browser/netns.sh node --test tests/browser/net.test.mjs
set -eu
exec unshare -n sh -c '
  ip link set lo up
  ip link add v0 type veth peer name v1
  ip addr add 198.18.0.1/24 dev v0
  ip addr add 198.18.0.2/24 dev v1
  ip link set v0 up
  ip link set v1 up
  ip route add default dev v0
  WEFT_NETNS_IP=198.18.0.1 exec "$@"
' netns "$@"
