#!/usr/bin/env bash
# A private single-node Slurm cluster on this Debian machine, for development and tests.
#
#   bash slurm/cluster.sh up       # install (apt, once), configure, start; fast when already up
#   bash slurm/cluster.sh down     # stop the daemons this script started (by their pid files)
#   bash slurm/cluster.sh purge    # down + delete the cluster's home (all jobs, accounting, logs)
#   bash slurm/cluster.sh status   # exit 0 iff the cluster answers and the node is usable
#   eval "$(bash slurm/cluster.sh env)"   # point Slurm commands (sbatch, squeue, ...) at it
#
# Everything it writes lives under one directory, $ATARI100K_SLURM_HOME (default
# /var/tmp/atari100k-slurm): slurm.conf + slurmdbd.conf (every command and daemon is pointed
# at them with SLURM_CONF), state, spool, logs, pid files, its own munged (own key and
# socket) and its own MariaDB instance (own datadir, socket, port on 127.0.0.1). It never
# edits /etc/slurm, /etc/munge or another database server, and uses its own ports
# (ATARI100K_SLURM_PORT_BASE, default 6917: slurmctld 6917, slurmd 6918, slurmdbd 6919,
# mariadbd 6920), so it runs beside a host Slurm or MariaDB. No systemd and no cgroups:
# daemons are started directly and tracked by pid files; a failed `up` stops what it started.
# Needs root. Debian bookworm ships Slurm 22.05.
set -euo pipefail

say() { echo "[slurm/cluster.sh] $*" >&2; }
die() { say "error: $*"; exit 1; }

HOME_DIR=$(realpath -m -- "${ATARI100K_SLURM_HOME:-/var/tmp/atari100k-slurm}")
case "$HOME_DIR" in
    / | /bin | /boot | /dev | /etc | /home | /lib* | /opt | /proc | /root | /run | /sbin | /srv | /sys | /tmp | /usr | /usr/* | /var | /var/lib | /var/tmp | /var/log)
        die "ATARI100K_SLURM_HOME=$HOME_DIR: use a directory of its own, e.g. /var/tmp/atari100k-slurm" ;;
esac
CLUSTER=${SLURM_CLUSTER_NAME:-atari100k}
HOST=$(hostname -s)
PORT_BASE=${ATARI100K_SLURM_PORT_BASE:-6917}
[[ "$PORT_BASE" =~ ^[0-9]+$ ]] && [ "$PORT_BASE" -ge 1024 ] && [ "$PORT_BASE" -le 65530 ] \
    || die "ATARI100K_SLURM_PORT_BASE=$PORT_BASE: need a number in 1024-65530"
CTLD_PORT=$PORT_BASE
SLURMD_PORT=$((PORT_BASE + 1))
DBD_PORT=$((PORT_BASE + 2))
DB_PORT=$((PORT_BASE + 3))

MARKER=$HOME_DIR/.atari100k-slurm    # proves the directory is ours before `purge` deletes it
export SLURM_CONF=$HOME_DIR/slurm.conf
DBD_CONF=$HOME_DIR/slurmdbd.conf
RUN=$HOME_DIR/run                    # slurm daemons' pid files (owner slurm)
LOG=$HOME_DIR/log                    # slurm daemons' logs (owner slurm)
STATE=$HOME_DIR/state                # StateSaveLocation (owner slurm)
SPOOL=$HOME_DIR/spool                # SlurmdSpoolDir (slurmd runs as root)
MUNGE_DIR=$HOME_DIR/munge            # key, socket, pid, log of our munged (owner munge)
MUNGE_SOCKET=$MUNGE_DIR/munge.socket
DB_DATA=$HOME_DIR/mysql              # our MariaDB's datadir (owner mysql)
DB_RUN=$HOME_DIR/mysqld              # its socket, pid file and log (owner mysql)
DB_SOCKET=$DB_RUN/mysqld.sock
DB_PASS_FILE=$HOME_DIR/db.pass

PACKAGES=(slurmctld slurmd slurm-client munge slurmdbd mariadb-server)
# pid file, process name, log: the daemons in start order.
PIDFILES=("$MUNGE_DIR/munged.pid" "$DB_RUN/mysqld.pid" "$RUN/slurmdbd.pid" "$RUN/slurmctld.pid" "$RUN/slurmd.pid")
NAMES=(munged mariadbd slurmdbd slurmctld slurmd)
LOGS=("$MUNGE_DIR/munged.log" "$DB_RUN/mariadb.log" "$LOG/slurmdbd.log" "$LOG/slurmctld.log" "$LOG/slurmd.log")
MARIADB_OPTS=(--no-defaults --user=mysql "--datadir=$DB_DATA" "--socket=$DB_SOCKET" "--port=$DB_PORT"
              --bind-address=127.0.0.1 "--pid-file=$DB_RUN/mysqld.pid" "--log-error=$DB_RUN/mariadb.log"
              --innodb-buffer-pool-size=512M --innodb-log-file-size=64M --innodb-lock-wait-timeout=900)
db() { mariadb --no-defaults --protocol=socket "--socket=$DB_SOCKET" -u root "$@"; }

pid_of() { [ -s "$1" ] && head -c 32 "$1" | tr -dc '0-9'; }

# ours PIDFILE NAME: the pid file names a live NAME process of this cluster (its command line
# or environment mentions our home), so a stale pid file never makes us signal a stranger.
ours() {
    local pid
    pid=$(pid_of "$1") && [ -n "$pid" ] || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] || return 1
    grep -qaF -- "$HOME_DIR/" "/proc/$pid/cmdline" "/proc/$pid/environ" 2>/dev/null
}

install_packages() {
    local missing=()
    for p in "${PACKAGES[@]}"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    command -v apt-get >/dev/null || die "apt-get not found: install ${missing[*]} by hand"
    say "installing ${missing[*]}"
    # policy-rc.d: the packages must not start their system services (the host's munged,
    # mariadb, slurm*); we run private instances. Only ours is removed afterwards.
    local policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        policy=/usr/sbin/policy-rc.d
        printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy"
    fi
    export DEBIAN_FRONTEND=noninteractive
    local rc=0
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}"; } >&2 || rc=$?
    [ -z "$policy" ] || rm -f "$policy"
    [ $rc = 0 ] || die "apt-get install ${missing[*]} failed"
}

port_busy() { # port_busy PORT: something listens on TCP PORT
    if command -v ss >/dev/null; then
        ss -Hltn "sport = :$1" 2>/dev/null | grep -q .
    else
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
    fi
}

node_line() {
    # The node's hardware as slurmd sees it; RealMemory a bit below MemTotal, else the
    # node drains with "configuration differs from hardware".
    local hw mem fields
    hw=$(slurmd -C | head -1)
    mem=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$hw")
    mem=$((mem * 9 / 10))
    fields=$(grep -o -E '(CPUs|Boards|SocketsPerBoard|CoresPerSocket|ThreadsPerCore)=[0-9]+' <<<"$hw" | tr '\n' ' ')
    echo "NodeName=$HOST NodeAddr=127.0.0.1 ${fields}RealMemory=$mem State=UNKNOWN"
}

make_dirs() {
    if [ -d "$HOME_DIR" ] && [ ! -e "$MARKER" ] && [ -n "$(ls -A "$HOME_DIR")" ]; then
        die "$HOME_DIR exists, is not empty and was not made by this script: choose another ATARI100K_SLURM_HOME"
    fi
    local u made=""
    [ -d "$HOME_DIR" ] || made=1
    mkdir -p "$HOME_DIR"
    chmod 755 "$HOME_DIR"
    for u in slurm munge mysql; do
        if ! runuser -u "$u" -- test -x "$HOME_DIR"; then
            [ -z "$made" ] || rmdir "$HOME_DIR"
            die "user $u cannot reach $HOME_DIR (a parent directory is not searchable by others): choose a home under /var/tmp"
        fi
    done
    echo "private Slurm cluster of slurm/cluster.sh (atari100k); 'bash slurm/cluster.sh purge' deletes this directory" > "$MARKER"
    mkdir -p "$RUN" "$LOG" "$STATE" "$SPOOL" "$MUNGE_DIR" "$DB_DATA" "$DB_RUN"
    chown slurm:slurm "$RUN" "$LOG" "$STATE"
    chown munge:munge "$MUNGE_DIR"
    chown mysql:mysql "$DB_DATA" "$DB_RUN"
    chmod 755 "$RUN" "$LOG" "$STATE" "$SPOOL" "$MUNGE_DIR" "$DB_RUN"
    chmod 700 "$DB_DATA"
}

db_password() {
    # Ours alone (random, kept in the home); ATARI100K_SLURM_DB_PASS overrides it.
    local pass=${ATARI100K_SLURM_DB_PASS:-}
    if [ -z "$pass" ]; then
        [ -s "$DB_PASS_FILE" ] || (umask 077 && od -An -tx1 -N12 /dev/urandom | tr -d ' \n' > "$DB_PASS_FILE")
        pass=$(cat "$DB_PASS_FILE")
    fi
    [[ "$pass" =~ ^[A-Za-z0-9._:@%+=-]+$ ]] || die "the database password may only hold A-Z a-z 0-9 . _ : @ % + = -"
    echo "$pass"
}

write_config() { # write_config DB_PASS SLURMDBD_PASS; prints "changed" if a config file changed
    local pass=$1 dbd_pass=$2
    cat > "$SLURM_CONF.new" <<CONF
# Written by slurm/cluster.sh: a private single-node cluster for development and tests.
# Everything lives under $HOME_DIR; use it with SLURM_CONF=$SLURM_CONF.
ClusterName=$CLUSTER
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=slurm
AuthType=auth/munge
# Our own munged's socket. A requeued job may start again only after cred_expire seconds (default 120).
AuthInfo=cred_expire=5,socket=$MUNGE_SOCKET
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
StateSaveLocation=$STATE
SlurmdSpoolDir=$SPOOL
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$DBD_PORT
# For connections to slurmdbd this names the munged socket (AuthInfo is not used for them).
AccountingStoragePass=$MUNGE_SOCKET
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=300
KillWait=5
$(node_line)
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
    # slurmdbd refuses a config that others can read (it holds the DB password).
    (umask 077 && cat > "$DBD_CONF.new") <<CONF
# Written by slurm/cluster.sh. The database is our own MariaDB on 127.0.0.1:$DB_PORT.
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=slurm
PidFile=$RUN/slurmdbd.pid
LogFile=$LOG/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$dbd_pass
StorageLoc=slurm_acct_db
CONF
    chown slurm:slurm "$DBD_CONF.new"
    chmod 600 "$DBD_CONF.new"
    chmod 644 "$SLURM_CONF.new"
    local changed=""
    cmp -s "$SLURM_CONF.new" "$SLURM_CONF" || changed=1
    cmp -s "$DBD_CONF.new" "$DBD_CONF" || changed=1
    mv "$SLURM_CONF.new" "$SLURM_CONF"
    mv "$DBD_CONF.new" "$DBD_CONF"
    [ -z "$changed" ] || echo changed
}

# --- starting, with the cause of a failure -------------------------------------------------

STARTED=()     # indices (into PIDFILES) of the daemons this call started
OFFSETS=()     # size of each daemon's log before this call started it
DB_LAUNCHER="" # pid of the mariadbd we launched (before its pid file exists)

log_size() { stat -c %s "$1" 2>/dev/null || echo 0; }

# The daemon's own last error lines since this call started it (else its last lines).
cause() {
    local i=$1 file=${LOGS[$1]} from=$((${OFFSETS[$1]:-0} + 1)) text
    text=$( { [ -f "$file" ] && tail -c +"$from" "$file"; [ -f "$file.stderr" ] && cat "$file.stderr"; } 2>/dev/null || true)
    [ -n "$text" ] || return 0
    local lines
    lines=$(grep -E -i 'error|fatal|denied|refused|cannot|unable|failed' <<<"$text" | tail -n 4 || true)
    [ -n "$lines" ] || lines=$(tail -n 4 <<<"$text")
    say "${NAMES[$i]}'s log ($file):"
    while IFS= read -r line; do echo "    $line" >&2; done <<<"$lines"
}

fail() { # fail INDEX MESSAGE: report the daemon's own error lines; the EXIT trap stops what we started
    say "error: $2"
    cause "$1"
    exit 1
}

stop_pid() { # stop_pid INDEX [LIMIT]: TERM, wait, then KILL; only a live daemon of ours
    local pidfile=${PIDFILES[$1]} name=${NAMES[$1]} limit=${2:-30} pid
    if ours "$pidfile" "$name"; then
        pid=$(pid_of "$pidfile")
    elif [ "$name" = mariadbd ] && [ -n "$DB_LAUNCHER" ] && [ "$(cat "/proc/$DB_LAUNCHER/comm" 2>/dev/null)" = mariadbd ]; then
        pid=$DB_LAUNCHER   # launched by this call, pid file not written yet
    else
        rm -f "$pidfile"   # stale (or absent): nothing of ours runs under it
        return 0
    fi
    kill "$pid" 2>/dev/null || true
    local end=$((SECONDS + limit))
    while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        say "$name did not stop; killing it"
        kill -9 "$pid" 2>/dev/null || true
        end=$((SECONDS + 5))  # gone from /proc before the caller looks
        while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.1; done
    fi
    rm -f "$pidfile"
}

on_up_exit() {
    local rc=$?
    [ $rc != 0 ] || return 0
    if [ ${#STARTED[@]} -gt 0 ]; then
        local names="" k
        for ((k = ${#STARTED[@]} - 1; k >= 0; k--)); do
            names+=" ${NAMES[${STARTED[k]}]}"
            stop_pid "${STARTED[k]}" 15
        done
        say "up failed: stopped what it had started:$names"
    fi
    exit $rc
}

launch() { # launch INDEX COMMAND...: start a self-daemonizing daemon unless ours runs
    local i=$1; shift
    ours "${PIDFILES[$i]}" "${NAMES[$i]}" && return 0
    OFFSETS[i]=$(log_size "${LOGS[$i]}")
    STARTED+=("$i")
    rm -f "${PIDFILES[$i]}" "${LOGS[$i]}.stderr"
    "$@" >"${LOGS[$i]}.stderr" 2>&1 </dev/null || fail "$i" "${NAMES[$i]} did not start"
}

# Log lines after which waiting is pointless (slurmdbd retries a refused login forever).
HOPELESS='(^|\] )fatal:|Access denied for user|\[ERROR\] Aborting'

# wait_up INDEX SECONDS CHECK...: until CHECK succeeds; fail early if the daemon died or
# wrote a fatal error, else after SECONDS, with the daemon's own error lines.
wait_up() {
    local i=$1 limit=$2; shift 2
    local end=$((SECONDS + limit)) seen="" said
    until said=$("$@" 2>&1); do
        said=$(tail -n 2 <<<"$said")
        [ -z "$said" ] || said=" ($1 said: ${said//$'\n'/ | })"
        if ours "${PIDFILES[$i]}" "${NAMES[$i]}"; then
            seen=1
        elif [ -n "$seen" ]; then
            fail "$i" "${NAMES[$i]} exited$said"
        fi
        if [ -f "${LOGS[$i]}" ] && tail -c +"$((${OFFSETS[$i]:-0} + 1))" "${LOGS[$i]}" | grep -q -E "$HOPELESS"; then
            fail "$i" "${NAMES[$i]} failed$said"
        fi
        [ $SECONDS -lt $end ] || fail "$i" "${NAMES[$i]} did not answer within ${limit}s$said"
        sleep 0.2
    done
}

check_port() { # check_port INDEX PORT: free unless our daemon already holds it
    ours "${PIDFILES[$1]}" "${NAMES[$1]}" && return 0
    if port_busy "$2"; then
        die "port $2 (for ${NAMES[$1]}) is in use by another program: set ATARI100K_SLURM_PORT_BASE (now $PORT_BASE; uses it and the next 3 ports)"
    fi
}

munge_works() { munge -n --socket="$MUNGE_SOCKET" | unmunge --socket="$MUNGE_SOCKET"; }

start_munge() {
    if [ ! -s "$MUNGE_DIR/munge.key" ]; then
        mungekey --create --keyfile="$MUNGE_DIR/munge.key" >/dev/null 2>&1 \
            || dd if=/dev/urandom of="$MUNGE_DIR/munge.key" bs=1024 count=1 status=none
    fi
    chown munge:munge "$MUNGE_DIR/munge.key"
    chmod 600 "$MUNGE_DIR/munge.key"
    launch 0 runuser -u munge -- /usr/sbin/munged --force "--key-file=$MUNGE_DIR/munge.key" \
        "--socket=$MUNGE_SOCKET" "--pid-file=$MUNGE_DIR/munged.pid" "--log-file=$MUNGE_DIR/munged.log" \
        "--seed-file=$MUNGE_DIR/munged.seed"
    wait_up 0 15 munge_works
}

start_mariadb() {
    local pass=$1
    if [ ! -d "$DB_DATA/mysql" ]; then
        OFFSETS[1]=$(log_size "${LOGS[1]}")
        mariadb-install-db "${MARIADB_OPTS[@]}" --auth-root-authentication-method=socket --skip-test-db \
            >"$DB_RUN/install.log" 2>&1 || { cat "$DB_RUN/install.log" >>"${LOGS[1]}"; fail 1 "mariadb-install-db failed"; }
    fi
    if ! ours "${PIDFILES[1]}" mariadbd; then
        check_port 1 "$DB_PORT"
        OFFSETS[1]=$(log_size "${LOGS[1]}")
        STARTED+=(1)
        rm -f "${PIDFILES[1]}"
        setsid mariadbd "${MARIADB_OPTS[@]}" >"${LOGS[1]}.stderr" 2>&1 </dev/null &
        DB_LAUNCHER=$!
    fi
    wait_up 1 60 db -e 'SELECT 1'
    # Our own server: the slurm user gets the password we set, even if it had another.
    local u sql=""
    for u in "'slurm'@'localhost'" "'slurm'@'127.0.0.1'"; do
        sql+="CREATE USER IF NOT EXISTS $u IDENTIFIED BY '$pass'; ALTER USER $u IDENTIFIED BY '$pass';"
        sql+="GRANT ALL ON slurm_acct_db.* TO $u;"
    done
    db -e "$sql FLUSH PRIVILEGES;" 2>>"${LOGS[1]}" || fail 1 "could not create the database user slurm"
}

node_usable() {
    local state
    state=$(sinfo -h -N -n "$HOST" -o '%T' 2>/dev/null | head -1)
    case "$state" in idle|mixed|allocated|completing) return 0 ;; *) return 1 ;; esac
}

SLURMD_LAUNCHED=0   # when this call started slurmd (epoch seconds)
node_registered() { # the node is usable and, if we just started slurmd, it has registered since
    node_usable || return 1
    [ "$SLURMD_LAUNCHED" -gt 0 ] || return 0
    local started
    started=$(scontrol show node "$HOST" 2>/dev/null | sed -n 's/.*SlurmdStartTime=\([0-9T:-]*\).*/\1/p')
    [ -n "$started" ] && [ "$(date -d "$started" +%s 2>/dev/null || echo 0)" -ge "$SLURMD_LAUNCHED" ]
}

start_slurm() {
    check_port 2 "$DBD_PORT"
    launch 2 slurmdbd
    wait_up 2 45 sacctmgr -n show cluster
    check_port 3 "$CTLD_PORT"
    launch 3 slurmctld
    wait_up 3 45 scontrol ping
    check_port 4 "$SLURMD_PORT"
    ours "${PIDFILES[4]}" slurmd || SLURMD_LAUNCHED=$(($(date +%s) - 1))
    launch 4 slurmd
    # After a restart the controller may briefly show the old state: wait until slurmd
    # has re-registered, then for the node to take jobs.
    wait_up 4 60 node_registered
}

is_up() {
    local i
    for i in 0 1 2 3 4; do ours "${PIDFILES[$i]}" "${NAMES[$i]}" || return 1; done
    scontrol ping >/dev/null 2>&1 && node_usable
}

any_alive() {
    local i
    for i in 0 1 2 3 4; do ours "${PIDFILES[$i]}" "${NAMES[$i]}" && return 0; done
    return 1
}

cmd_up() {
    if command -v slurmctld >/dev/null && [ -f "$SLURM_CONF" ] && is_up; then
        say "already up: $HOME_DIR"
        return 0
    fi
    [ "$(id -u)" = 0 ] || die "bringing up the cluster needs root"
    install_packages
    make_dirs
    local pass dbd_pass changed
    pass=$(db_password)
    dbd_pass=${ATARI100K_SLURM_DB_PASS_FOR_SLURMDBD:-$pass}   # tests: a slurmdbd that gets refused
    changed=$(write_config "$pass" "$dbd_pass")
    if [ -n "$changed" ] && any_alive; then
        say "configuration changed: restarting"
        cmd_down
    fi
    trap on_up_exit EXIT
    start_munge
    start_mariadb "$pass"
    start_slurm
    trap - EXIT
    # Clear a node left drained/down by an earlier unclean stop.
    scontrol update nodename="$HOST" state=resume >/dev/null 2>&1 || true
    say "up: cluster $CLUSTER in $HOME_DIR, node $HOST ($(sinfo -h -N -o '%c CPUs, %m MB, %T' | head -1)),"
    say "    ports $CTLD_PORT-$DB_PORT; use it with: export SLURM_CONF=$SLURM_CONF"
}

cmd_down() {
    # slurmd and slurmctld together, then slurmdbd (it may still write to the database),
    # then the database and munged together.
    local a
    stop_pid 4 & a=$!; stop_pid 3; wait "$a"
    stop_pid 2
    stop_pid 1 & a=$!; stop_pid 0; wait "$a"
    say "down: $HOME_DIR"
}

cmd_purge() {
    cmd_down
    if [ -d "$HOME_DIR" ]; then
        [ -e "$MARKER" ] || die "$HOME_DIR was not made by this script (no $(basename "$MARKER")): not deleting it"
        rm -rf -- "$HOME_DIR"
    fi
    say "purged: deleted $HOME_DIR (jobs, accounting, logs)"
}

case "${1:-}" in
    up) cmd_up ;;
    down) cmd_down ;;
    purge) cmd_purge ;;
    restart) cmd_down; cmd_up ;;
    status) if [ -f "$SLURM_CONF" ] && is_up; then sinfo; exit 0; else say "not up ($HOME_DIR)"; exit 1; fi ;;
    env) printf 'export SLURM_CONF=%q\n' "$SLURM_CONF" ;;
    *) echo "usage: $0 up|down|purge|restart|status|env" >&2; exit 2 ;;
esac
