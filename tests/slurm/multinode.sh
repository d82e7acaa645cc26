#!/usr/bin/env bash
# A two-node SLURM cluster on this host for the multi-node tests (tests/slurm/test_multinode.py), without systemd.
#
#   tests/slurm/multinode.sh start         # installs slurm-wlm + munge when missing (root, apt-get); builds nodes
#                                          # mn1 and mn2; starts munged, slurmctld + slurmd on mn1, slurmd on mn2;
#                                          # waits until both nodes take jobs; prints `export SLURM_CONF=...`
#   tests/slurm/multinode.sh on mn1 CMD..  # runs CMD on node mn1 (its network, hostname and /etc/hosts), in the
#                                          # current folder with the current environment (SLURM_CONF set)
#   tests/slurm/multinode.sh stop          # stops every process of the nodes, the daemons, removes the nodes
#
# A node is a Linux network namespace (`ip netns add mn1`) plus a UTS namespace (hostname = node name) and a
# mount namespace in which /etc/hosts names the two nodes and /etc/nsswitch.conf says `hosts: files`, so no name
# lookup leaves the host. One veth pair joins the two network namespaces, addressed in a private /24 that exists
# only inside them (no route to anything else): all traffic of the cluster stays on this host. One "anchor"
# process per node (`sleep`) holds its UTS and mount namespaces; everything runs on a node through
# `nsenter -t <anchor> -n -m -u` (not `ip netns exec`, which remounts /sys, after which slurmd finds no
# /sys/fs/cgroup). munged runs once on the host: its socket is a file, reached from every namespace. The file
# system is the host's, shared by both nodes as a cluster's shared file system would be.
#
# State in $GANSR_MULTINODE_DIR (default /tmp/gansr-multinode): slurm.conf, hosts, munge, spool, logs. Clients
# must run on a node (`multinode.sh on mn1 sbatch ...`): the controller's address exists only there. Exit status
# 3: the packages are missing and cannot be installed; 4: this machine does not permit network namespaces (not
# root, or a container without CAP_SYS_ADMIN) -- the tests skip with that reason.
set -euo pipefail

DIR=${GANSR_MULTINODE_DIR:-/tmp/gansr-multinode}
CONF=$DIR/slurm.conf
NET=${GANSR_MULTINODE_NET:-10.233.71}   # the nodes' /24: mn1 is $NET.1, mn2 is $NET.2
NODES=(mn1 mn2)
# shared with cluster.sh: install_packages, start_munge, running, stop_pidfile, write_common_config
source "$(dirname "${BASH_SOURCE[0]}")/slurmlib.sh"

address() {  # node -> its address
    echo "$NET.${1#mn}"
}

anchor() {  # node -> pid of the process holding its namespaces (empty when it is not running)
    running "$DIR/$1.anchor.pid" && cat "$DIR/$1.anchor.pid" || true
}

on() {  # node command... : run on the node, in this folder
    local node=$1 pid
    shift
    pid=$(anchor "$node")
    if [ -z "$pid" ]; then
        echo "multinode.sh: node $node is not running (multinode.sh start)" >&2
        exit 1
    fi
    SLURM_CONF=$CONF nsenter -t "$pid" -n -m -u --wdns="$PWD" -- "$@"
}

check_permitted() {
    local why=""
    if [ "$(id -u)" != 0 ]; then
        why="building the nodes needs root (network namespaces)"
    elif ! command -v nsenter >/dev/null || ! command -v unshare >/dev/null || ! command -v ip >/dev/null; then
        why="needs ip (iproute2), nsenter and unshare (util-linux)"
    elif ! unshare --net true 2>/dev/null; then
        why="this machine does not permit network namespaces (unshare --net failed)"
    elif ! unshare --uts --mount --propagation private true 2>/dev/null; then
        why="this machine does not permit UTS/mount namespaces (unshare --uts --mount failed)"
    fi
    if [ -n "$why" ]; then
        echo "multinode.sh: $why" >&2
        exit 4
    fi
}

build_nodes() {
    local node
    {
        echo "127.0.0.1 localhost"
        for node in "${NODES[@]}"; do echo "$(address "$node") $node"; done
    } >"$DIR/hosts"
    sed 's/^hosts:.*/hosts: files/' /etc/nsswitch.conf >"$DIR/nsswitch.conf"
    grep -q '^hosts:' "$DIR/nsswitch.conf" || echo "hosts: files" >>"$DIR/nsswitch.conf"
    for node in "${NODES[@]}"; do ip netns add "$node"; done
    ip link add gansr-mn1 type veth peer name gansr-mn2
    for node in "${NODES[@]}"; do
        ip link set "gansr-$node" netns "$node"
        nsenter --net="/run/netns/$node" sh -c "ip addr add $(address "$node")/24 dev gansr-$node \
            && ip link set gansr-$node up && ip link set lo up"
        # the anchor: sh binds the node's files over /etc/hosts and /etc/nsswitch.conf, sets the hostname, becomes sleep
        setsid nsenter --net="/run/netns/$node" unshare --uts --mount --propagation private -- sh -c \
            "mount --bind $DIR/hosts /etc/hosts && mount --bind $DIR/nsswitch.conf /etc/nsswitch.conf \
             && hostname $node && exec sleep infinity" </dev/null >"$DIR/$node.anchor.log" 2>&1 &
        echo $! >"$DIR/$node.anchor.pid"
    done
    for node in "${NODES[@]}"; do
        local pid
        pid=$(cat "$DIR/$node.anchor.pid")
        for _ in $(seq 100); do
            [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = sleep ] && break
            sleep 0.05
        done
        if [ "$(on "$node" hostname)" != "$node" ]; then
            echo "multinode.sh: node $node did not come up: $(cat "$DIR/$node.anchor.log")" >&2
            exit 1
        fi
    done
}

write_config() {
    local node resources
    resources=$(node_resources)
    {
        echo "# written by tests/slurm/multinode.sh for the gansr multi-node tests"
        write_common_config
        cat <<EOF
SlurmctldHost=mn1($(address mn1))
SlurmctldPort=${GANSR_SLURMCTLD_PORT:-16817}
SlurmdPort=${GANSR_SLURMD_PORT:-16818}
SlurmdSpoolDir=$DIR/spool/%n
SlurmdPidFile=$DIR/slurmd.%n.pid
SlurmdLogFile=$DIR/slurmd.%n.log
EOF
        for node in "${NODES[@]}"; do
            echo "NodeName=$node NodeAddr=$(address "$node") $resources State=UNKNOWN"
        done
        echo "PartitionName=debug Nodes=$(IFS=,; echo "${NODES[*]}") Default=YES MaxTime=INFINITE State=UP"
    } >"$CONF"
}

all_running() {
    local node
    running "$DIR/slurmctld.pid" || return 1
    for node in "${NODES[@]}"; do
        [ -n "$(anchor "$node")" ] && running "$DIR/slurmd.$node.pid" || return 1
    done
}

start() {
    mkdir -p "$DIR/state" "$DIR/spool"
    check_permitted
    install_packages
    if all_running; then
        echo "export SLURM_CONF=$CONF"
        return 0
    fi
    stop >/dev/null 2>&1 || true
    build_nodes
    write_config
    start_munge
    on mn1 slurmctld -c -f "$CONF"   # -c: clear old job state
    for node in "${NODES[@]}"; do
        mkdir -p "$DIR/spool/$node"
        on "$node" slurmd -f "$CONF" -N "$node"
    done
    local deadline=$((SECONDS + 60))
    until [ "$(on mn1 sinfo -h -N -o "%T" 2>/dev/null | grep -cE "^(idle|mixed|allocated)")" = "${#NODES[@]}" ]; do
        if [ $SECONDS -ge $deadline ]; then
            echo "multinode.sh: the nodes did not become idle within 60 s; logs in $DIR" >&2
            on mn1 sinfo -N -l >&2 || true
            tail -5 "$DIR"/slurm*.log >&2 || true
            exit 1
        fi
        sleep 0.5
    done
    echo "export SLURM_CONF=$CONF"
}

stop() {
    local node pid pids
    # every process on a node (jobs, slurmstepd, slurmd, slurmctld, the anchor), then the host's munged
    for signal in TERM KILL; do
        pids=""
        for node in "${NODES[@]}"; do
            [ -e "/run/netns/$node" ] && pids="$pids $(ip netns pids "$node" 2>/dev/null | tr '\n' ' ')"
        done
        for pid in $pids; do
            alive_pid "$pid" && kill "-$signal" "$pid" 2>/dev/null || true
        done
        for _ in $(seq 50); do
            local left=0
            for pid in $pids; do alive_pid "$pid" && left=1; done
            [ $left = 0 ] && break
            sleep 0.1
        done
    done
    stop_pidfile "$DIR/munge/munged.pid"
    for node in "${NODES[@]}"; do
        rm -f "$DIR/$node.anchor.pid" "$DIR/slurmd.$node.pid"
        if [ -e "/run/netns/$node" ]; then ip netns del "$node"; fi
    done
    # a start stopped between creating the veth pair and moving it into the namespaces leaves it on the host
    if ip link show gansr-mn1 >/dev/null 2>&1; then ip link del gansr-mn1; fi
    rm -f "$DIR/slurmctld.pid"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    on) [ $# -ge 3 ] || { echo "usage: $0 on NODE COMMAND..." >&2; exit 2; }; shift; on "$@" ;;
    *) echo "usage: $0 start|stop|on NODE COMMAND..." >&2; exit 2 ;;
esac
