#!/usr/bin/env bash
# A single-node Slurm cluster on localhost (slurmctld + slurmd + munge from Debian's packages), for
# the Slurm end-to-end test and for trying `kimg run --on slurm` without a cluster.
#
#   scripts/slurm-local.sh up     install the packages if needed, write the config, start daemons
#   scripts/slurm-local.sh down   stop the daemons
#
# Needs root and apt (Debian/Ubuntu). Where that is not possible it says why and exits 1; the
# Slurm test then reports itself skipped.
set -euo pipefail

STATE=${KIMG_SLURM_STATE:-/var/tmp/kimg-slurm}
CONF=/etc/slurm/slurm.conf

say() { echo "slurm-local: $*" >&2; }

install_packages() {
    command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null && return
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        say "Slurm is not installed and cannot be (needs root and apt-get)"
        exit 1
    fi
    say "installing slurm-wlm and munge"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends slurm-wlm munge >/dev/null ||
        { apt-get update >/dev/null && apt-get install -y --no-install-recommends slurm-wlm munge >/dev/null; }
}

start_munge() {
    mkdir -p /etc/munge /var/run/munge /var/lib/munge /var/log/munge
    if [ ! -s /etc/munge/munge.key ]; then
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
    chown -R munge:munge /etc/munge /var/run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
    chmod 0400 /etc/munge/munge.key
    if ! pgrep -x munged >/dev/null; then
        if id munge >/dev/null 2>&1; then
            runuser -u munge -- munged --force
        else
            munged --force
        fi
    fi
}

write_config() {
    local host cpus mem
    host=$(hostname -s)
    cpus=$(nproc)
    mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
    mkdir -p /etc/slurm "$STATE/ctld" "$STATE/d" "$STATE/log"
    cat > "$CONF" <<CONF
# Written by kimg's scripts/slurm-local.sh: one node, localhost, for tests.
ClusterName=kimg-local
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SlurmdTimeout=60
# A requeued job waits cred_expire seconds (default 120) before it may start again; the
# time-limit requeue test requeues a few times. Read when slurmctld starts (not on reconfigure).
AuthInfo=cred_expire=20
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
}

up() {
    install_packages
    start_munge
    write_config
    if pgrep -x slurmctld >/dev/null; then
        scontrol reconfigure >/dev/null 2>&1 || say "scontrol reconfigure failed; restart with \`$0 down\` then \`$0 up\`"
    else
        slurmctld -f "$CONF"
    fi
    pgrep -x slurmd >/dev/null || slurmd -f "$CONF"
    for _ in $(seq 60); do
        if sinfo --noheader --states=idle,mixed,allocated 2>/dev/null | grep -q .; then
            say "up: $(sinfo --noheader --format='%P %D nodes %t' | head -1)"
            return
        fi
        scontrol update nodename="$(hostname -s)" state=resume >/dev/null 2>&1 || true
        sleep 1
    done
    say "the daemons did not come up; see $STATE/log"
    exit 1
}

down() {
    pkill -x slurmd || true
    pkill -x slurmctld || true
    say "down"
}

case "${1:-up}" in
    up) up ;;
    down) down ;;
    *) say "usage: $0 up|down"; exit 2 ;;
esac
