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
SOCKET=$DIR/munge/munge.socket
HOST=$(hostname -s)

install_packages() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null \
        && command -v munged >/dev/null; then
        return 0
    fi
    if [ "$(id -u)" != 0 ]; then
        echo "cluster.sh: slurm-wlm/munge are not installed and installing them needs root" >&2
        exit 3
    fi
    echo "cluster.sh: installing slurm-wlm and munge (apt-get)" >&2
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            slurm-wlm munge >"$DIR/apt.log" 2>&1; }; then
        echo "cluster.sh: apt-get install slurm-wlm munge failed (see $DIR/apt.log)" >&2
        exit 3
    fi
}

write_config() {
    # this host's CPUs and memory as slurmd sees them (slurmd -C), 512 MiB kept back for the daemons
    local node cpus memory
    node=$(slurmd -C | head -1)
    cpus=$(sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' <<<"$node")
    memory=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$node")
    memory=$((memory > 1024 ? memory - 512 : memory))
    cat >"$CONF" <<EOF
# written by tests/slurm/cluster.sh for the gansr SLURM tests
ClusterName=gansr-test
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire: also how long a requeued job waits before it may start again (default 120 s)
AuthInfo=socket=$SOCKET,cred_expire=10
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
JobRequeue=1
# short waits: the tests run jobs of seconds to a minute
KillWait=10
MinJobAge=600
SlurmctldPort=${GANSR_SLURMCTLD_PORT:-16817}
SlurmdPort=${GANSR_SLURMD_PORT:-16818}
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/jobcomp.log
JobAcctGatherType=jobacct_gather/none
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
}

start_munge() {
    mkdir -p "$DIR/munge"
    if [ ! -s "$DIR/munge/munge.key" ]; then
        dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1 count=1024 status=none
    fi
    chmod 700 "$DIR/munge"
    chmod 600 "$DIR/munge/munge.key"
    munged --force --socket="$SOCKET" --key-file="$DIR/munge/munge.key" --pid-file="$DIR/munge/munged.pid" \
        --log-file="$DIR/munge/munged.log" --seed-file="$DIR/munge/munged.seed"
}

running() {  # pid file -> exit 0 when that process lives
    [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
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
    local name pid
    for name in slurmd slurmctld munge/munged; do
        if running "$DIR/$name.pid"; then
            pid=$(cat "$DIR/$name.pid")
            kill "$pid"
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        fi
        rm -f "$DIR/$name.pid"
    done
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
