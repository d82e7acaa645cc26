#!/usr/bin/env bash
# A single-node SLURM cluster on this host for the SLURM tests (tests/slurm/), without systemd.
#
#   tests/slurm/cluster.sh start   # installs slurm-wlm + munge when missing (root, apt-get), writes the
#                                  # configuration for this host's CPUs and memory, starts munged, slurmctld,
#                                  # slurmd; waits until the node takes jobs; prints `export SLURM_CONF=...`
#   tests/slurm/cluster.sh stop    # stops the three daemons by their PIDs (pid files in the state folder)
#
# Everything lives in $GANSR_SLURM_DIR (default /tmp/gansr-slurm): slurm.conf, munge socket and key, spool,
# state, logs. Clients (sbatch, squeue, srun, scontrol) find the cluster through SLURM_CONF=<dir>/slurm.conf; the
# system's /etc/slurm and /etc/munge are not touched. Exit status 3: the packages are missing and cannot be
# installed (not root, or apt-get failed) -- the tests skip with that reason.
set -euo pipefail

DIR=${GANSR_SLURM_DIR:-/tmp/gansr-slurm}
CONF=$DIR/slurm.conf
HOST=$(hostname -s)
# shared with multinode.sh: install_packages, start_munge, running, stop_pidfile, write_common_config
source "$(dirname "${BASH_SOURCE[0]}")/slurmlib.sh"

write_config() {
    {
        echo "# written by tests/slurm/cluster.sh for the gansr SLURM tests"
        write_common_config
        cat <<EOF
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=${GANSR_SLURMCTLD_PORT:-16817}
SlurmdPort=${GANSR_SLURMD_PORT:-16818}
SlurmdSpoolDir=$DIR/spool
SlurmdPidFile=$DIR/slurmd.pid
SlurmdLogFile=$DIR/slurmd.log
NodeName=$HOST NodeAddr=127.0.0.1 $(node_resources) State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
    } >"$CONF"
}

start() {
    mkdir -p "$DIR/state" "$DIR/spool"
    install_packages
    if running "$DIR/slurmctld.pid" && running "$DIR/slurmd.pid"; then
        echo "export SLURM_CONF=$CONF"
        return 0
    fi
    stop >/dev/null 2>&1 || true
    write_config
    start_munge
    export SLURM_CONF=$CONF
    slurmctld -c -f "$CONF"   # -c: clear old job state
    slurmd -f "$CONF"
    local deadline=$((SECONDS + 60))
    until sinfo -h -N -o "%T" 2>/dev/null | grep -qE "^(idle|mixed|allocated)"; do
        if [ $SECONDS -ge $deadline ]; then
            echo "cluster.sh: the node did not become idle within 60 s; logs in $DIR" >&2
            sinfo -N -l >&2 || true
            tail -5 "$DIR/slurmctld.log" "$DIR/slurmd.log" >&2 || true
            exit 1
        fi
        sleep 0.5
    done
    echo "export SLURM_CONF=$CONF"
}

stop() {
    local name
    for name in slurmd slurmctld munge/munged; do
        stop_pidfile "$DIR/$name.pid"
    done
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
