#!/bin/sh
# Shares the 16,384 slots among the three cluster nodes, once: a cluster already formed (a
# restart of the deployment) is left as it is. redis-cli --cluster create takes addresses, so
# each node's name is resolved first.
set -eu
nodes="redis-cluster-1 redis-cluster-2 redis-cluster-3"
if redis-cli -h redis-cluster-1 cluster info | grep -q '^cluster_state:ok'; then
  echo "the Redis Cluster is formed"
  exit 0
fi
addresses=""
for node in $nodes; do
  addresses="$addresses $(getent hosts "$node" | cut -d' ' -f1):6379"
done
# shellcheck disable=SC2086
redis-cli --cluster create $addresses --cluster-replicas 0 --cluster-yes
