# Shell pieces shared by the test clusters of tests/slurm/: cluster.sh (one node on this host) and multinode.sh
# (two nodes in network namespaces). Sourced, not run; each script sets DIR (its state folder) first.
#
#   install_packages     slurm-wlm + munge with apt-get when missing (root); exit 3 when that is not possible
#   start_munge          munged on this host, socket and key in $DIR/munge (every network namespace reaches a
#                        socket file, so one munged serves all nodes)
#   running PIDFILE      exit 0 when that process lives (a zombie -- a dead daemon nobody reaped -- counts as gone)
#   stop_pidfile PIDFILE SIGTERM, wait up to 5 s, SIGKILL; removes the file
#   write_common_config  the slurm.conf lines both clusters share (authentication, plugins, short waits)
#   node_resources       "CPUs=<n> RealMemory=<MiB>" of this host as slurmd sees it, 512 MiB kept back

install_packages() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null \
        && command -v munged >/dev/null; then
        return 0
    fi
    local me
    me=$(basename "$0")
    if [ "$(id -u)" != 0 ]; then
        echo "$me: slurm-wlm/munge are not installed and installing them needs root" >&2
        exit 3
    fi
    echo "$me: installing slurm-wlm and munge (apt-get)" >&2
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            slurm-wlm munge >"$DIR/apt.log" 2>&1; }; then
        echo "$me: apt-get install slurm-wlm munge failed (see $DIR/apt.log)" >&2
        exit 3
    fi
}

start_munge() {
    mkdir -p "$DIR/munge"
    if [ ! -s "$DIR/munge/munge.key" ]; then
        dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1 count=1024 status=none
    fi
    chmod 700 "$DIR/munge"
    chmod 600 "$DIR/munge/munge.key"
    munged --force --socket="$DIR/munge/munge.socket" --key-file="$DIR/munge/munge.key" \
        --pid-file="$DIR/munge/munged.pid" --log-file="$DIR/munge/munged.log" --seed-file="$DIR/munge/munged.seed"
}

alive_pid() {  # pid -> exit 0 when it runs and is not a zombie
    local state
    state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

running() {
    [ -s "$1" ] && alive_pid "$(cat "$1")"
}

stop_pidfile() {
    local pid
    if running "$1"; then
        pid=$(cat "$1")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do alive_pid "$pid" || break; sleep 0.1; done
        if alive_pid "$pid"; then kill -9 "$pid" 2>/dev/null || true; fi
    fi
    rm -f "$1"
}

node_resources() {
    local node cpus memory
    node=$(slurmd -C | head -1)
    cpus=$(sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' <<<"$node")
    memory=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$node")
    echo "CPUs=$cpus RealMemory=$((memory > 1024 ? memory - 512 : memory))"
}

write_common_config() {
    cat <<EOF
ClusterName=gansr-test
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire: also how long a requeued job waits before it may start again (default 120 s)
AuthInfo=socket=$DIR/munge/munge.socket,cred_expire=10
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
# a requeued job starts again in about 20 s instead of about 50 s
SchedulerParameters=sched_interval=5,bf_interval=5
MpiDefault=none
ReturnToService=2
JobRequeue=1
# short waits: the tests run jobs of seconds to a minute
KillWait=10
MinJobAge=600
StateSaveLocation=$DIR/state
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmctldLogFile=$DIR/slurmctld.log
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/jobcomp.log
JobAcctGatherType=jobacct_gather/none
EOF
}
