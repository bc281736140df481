#!/usr/bin/env bash
# A real single-node Slurm cluster on this Debian machine, for development and tests.
#
#   bash slurm/cluster.sh up       # install (apt, once), configure, start; fast when already up
#   bash slurm/cluster.sh down     # stop the daemons (by their pid files)
#   bash slurm/cluster.sh purge    # down + forget all jobs (job ids restart at 1)
#   bash slurm/cluster.sh status   # exit 0 iff the cluster answers and the node is usable
#
# Pieces: munge (auth), mariadb + slurmdbd (accounting, so that `sacct` works: submitit
# reads job states from it), slurmctld + slurmd on this host. No systemd and no cgroups
# are needed: daemons are started directly and tracked by pid files.
# Needs root. Debian bookworm ships Slurm 22.05.
set -euo pipefail

CLUSTER=${SLURM_CLUSTER_NAME:-atari100k}
HOST=$(hostname -s)
ETC=/etc/slurm
RUN=/run/slurm
STATE=/var/lib/slurm
LOG=/var/log/slurm
DB_PASS=${SLURM_DB_PASS:-atari100k-slurmdbd}
PACKAGES=(slurmctld slurmd slurm-client munge slurmdbd mariadb-server)

say() { echo "[slurm/cluster.sh] $*" >&2; }
die() { say "error: $*"; exit 1; }

# Wait up to $1 seconds for the command "${@:2}" to succeed.
wait_for() {
    local limit=$1; shift
    local end=$((SECONDS + limit))
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $end ] || return 1
        sleep 0.2
    done
}

alive() { # alive PIDFILE: the process in PIDFILE is running
    [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

install_packages() {
    local missing=()
    for p in "${PACKAGES[@]}"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    command -v apt-get >/dev/null || die "apt-get not found: install ${missing[*]} by hand"
    [ "$(id -u)" = 0 ] || die "installing ${missing[*]} needs root"
    say "installing ${missing[*]}"
    # policy-rc.d: packages must not try to start services (no systemd here).
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >&2
    rm -f /usr/sbin/policy-rc.d
}

node_line() {
    # The node's hardware as slurmd sees it; RealMemory a bit below MemTotal, else the
    # node drains with "configuration differs from hardware".
    local hw mem
    hw=$(slurmd -C | head -1)
    mem=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$hw")
    mem=$((mem * 9 / 10))
    local fields
    fields=$(grep -o -E '(CPUs|Boards|SocketsPerBoard|CoresPerSocket|ThreadsPerCore)=[0-9]+' <<<"$hw" | tr '\n' ' ')
    echo "NodeName=$HOST NodeAddr=127.0.0.1 ${fields}RealMemory=$mem State=UNKNOWN"
}

write_config() {
    mkdir -p "$ETC" "$RUN" "$STATE/slurmctld" "$STATE/slurmd" "$LOG" /run/munge /run/mysqld
    chown slurm:slurm "$RUN" "$STATE" "$STATE/slurmctld" "$LOG"
    chown munge:munge /run/munge
    chown mysql:mysql /run/mysqld
    cat > "$ETC/slurm.conf.new" <<CONF
# Written by slurm/cluster.sh: a single-node cluster for development and tests.
ClusterName=$CLUSTER
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
# A requeued job may start again only after cred_expire seconds (default 120).
AuthInfo=cred_expire=5
# No cgroups here: track processes by /proc, pin each job to its CPUs.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=2048
ReturnToService=2
SchedulerParameters=batch_sched_delay=0,sched_interval=2,bf_interval=2
MailProg=/bin/true
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
StateSaveLocation=$STATE/slurmctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=300
KillWait=5
$(node_line)
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
    mv "$ETC/slurm.conf.new" "$ETC/slurm.conf"
    cat > "$ETC/slurmdbd.conf" <<CONF
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
SlurmUser=slurm
PidFile=$RUN/slurmdbd.pid
LogFile=$LOG/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
CONF
    # slurmdbd refuses a config that others can read (it holds the DB password).
    chown slurm:slurm "$ETC/slurmdbd.conf"
    chmod 600 "$ETC/slurmdbd.conf"
}

start_munge() {
    [ -s /etc/munge/munge.key ] || { mungekey --create >&2; chown munge:munge /etc/munge/munge.key; }
    if ! alive /run/munge/munged.pid; then
        runuser -u munge -- /usr/sbin/munged --force
    fi
    wait_for 15 bash -c 'munge -n | unmunge' || die "munged did not start"
}

start_mariadb() {
    [ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql >/dev/null
    if ! alive /run/mysqld/mysqld.pid; then
        nohup mariadbd --user=mysql --bind-address=127.0.0.1 \
            --pid-file=/run/mysqld/mysqld.pid >"$LOG/mariadb.log" 2>&1 &
    fi
    wait_for 30 mariadb -e 'SELECT 1' || die "mariadb did not start (see $LOG/mariadb.log)"
    mariadb -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
                GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"
}

start_slurm() {
    alive "$RUN/slurmdbd.pid" || slurmdbd
    wait_for 30 sacctmgr -n show cluster || die "slurmdbd did not answer (see $LOG/slurmdbd.log)"
    alive "$RUN/slurmctld.pid" || slurmctld
    wait_for 30 scontrol ping || die "slurmctld did not answer (see $LOG/slurmctld.log)"
    alive "$RUN/slurmd.pid" || slurmd
    # After a restart the controller may briefly show the old state: wait until slurmd
    # has re-registered, then for the node to take jobs.
    wait_for 60 node_usable || die "node not usable: $(sinfo -h -N -o '%T %E' 2>&1) (see $LOG/slurmd.log)"
}

node_usable() {
    local state
    state=$(sinfo -h -N -n "$HOST" -o '%T' 2>/dev/null | head -1)
    case "$state" in idle|mixed|allocated|completing) return 0 ;; *) return 1 ;; esac
}

is_up() {
    alive /run/munge/munged.pid && alive /run/mysqld/mysqld.pid && alive "$RUN/slurmdbd.pid" \
        && alive "$RUN/slurmctld.pid" && alive "$RUN/slurmd.pid" \
        && scontrol ping >/dev/null 2>&1 && node_usable
}

stop_pid() { # stop_pid PIDFILE NAME: TERM, wait, then KILL
    local pidfile=$1 name=$2 pid
    alive "$pidfile" || return 0
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    local end=$((SECONDS + 15))
    while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        say "$name did not stop; killing it"
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
}

cmd_up() {
    if command -v slurmctld >/dev/null && is_up; then
        say "already up"
        return 0
    fi
    [ "$(id -u)" = 0 ] || die "bringing up the cluster needs root"
    install_packages
    write_config
    start_munge
    start_mariadb
    start_slurm
    # Clear a node left drained/down by an earlier unclean stop.
    scontrol update nodename="$HOST" state=resume >/dev/null 2>&1 || true
    say "up: cluster $CLUSTER, node $HOST ($(sinfo -h -N -o '%c CPUs, %m MB, %T' | head -1))"
}

cmd_down() {
    stop_pid "$RUN/slurmd.pid" slurmd
    stop_pid "$RUN/slurmctld.pid" slurmctld
    stop_pid "$RUN/slurmdbd.pid" slurmdbd
    stop_pid /run/mysqld/mysqld.pid mariadb
    stop_pid /run/munge/munged.pid munged
    say "down"
}

cmd_purge() {
    cmd_down
    rm -rf "${STATE:?}/slurmctld/"* "${STATE:?}/slurmd/"*
    if [ -d /var/lib/mysql/slurm_acct_db ]; then rm -rf /var/lib/mysql/slurm_acct_db; fi
    say "purged job state and accounting"
}

case "${1:-}" in
    up) cmd_up ;;
    down) cmd_down ;;
    purge) cmd_purge ;;
    restart) cmd_down; cmd_up ;;
    status) if is_up; then sinfo; exit 0; else say "not up"; exit 1; fi ;;
    *) echo "usage: $0 up|down|purge|restart|status" >&2; exit 2 ;;
esac
