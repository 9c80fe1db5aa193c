#!/bin/sh
# dom0's /init in the Xen machine of `cargo xtask xen` (xtask/src/xen/). It starts the Xen
# toolstack, runs the scenario named by audiovm.scenario= on the kernel command line, prints
# `AUDIOVM-E2E RESULT=PASS|FAIL <scenario>` and every domain's console, and powers off.
# The host checks the WAV file QEMU recorded; this script judges what only dom0 can see.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin:/usr/lib/xen-4.17/bin
export LD_LIBRARY_PATH=/lib/x86_64-linux-gnu
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mkdir -p /run/xen /run/xenstored /var/lib/xen /var/lib/xenstored /var/log/xen/console
LOGS=/var/log/xen/console

say() { echo "AUDIOVM-E2E $*"; }
up() { cut -d' ' -f1 /proc/uptime; }
since() { awk -v now="$(up)" -v t="$1" 'BEGIN { printf "%.1f", now - t }'; }
RESULT=PASS
REASON=
fail() {
    say "CHECK FAILED: $*"
    [ "$RESULT" = FAIL ] || REASON="$*"
    RESULT=FAIL
}

SCENARIO=none
for word in $(cat /proc/cmdline); do
    case $word in audiovm.scenario=*) SCENARIO=${word#audiovm.scenario=} ;; esac
done
say "dom0 init: scenario $SCENARIO, kernel $(uname -r), uptime $(up)"

for m in xen-evtchn xen-gntdev xen-gntalloc xen-privcmd xenfs xen-pciback; do
    modprobe $m || fail "modprobe $m"
done
mount -t xenfs xenfs /proc/xen
xenstored --pid-file /run/xen/xenstored.pid || fail "xenstored did not start"
xen-init-dom0 >/dev/null || fail "xen-init-dom0"
# Guest consoles go to $LOGS/guest-<name>.log.
xenconsoled --pid-file=/run/xen/xenconsoled.pid --log=guest --log-dir=$LOGS || fail "xenconsoled"
say "toolstack ready at uptime $(up)"

# ---- audiovm ------------------------------------------------------------------------------
AVM=
# Everything audiovm wrote to Xen's debug port (port 0xe9 lines appear as "(dN) ...").
AVM_IDS=
# audiovm's log: boot, errors and its exit report on Xen's debug port (xl dmesg), the rest on
# its PV console (xenconsoled's guest-audiovm.log).
avm_console() {
    { for id in $AVM_IDS; do xl dmesg | grep -a "(d$id)"; done
      cat $LOGS/guest-audiovm.log 2>/dev/null; } | tr -d '\r'
}
avm_says() { { avm_console; tr -d '\r' < $LOGS/audiovm-serial.log; } 2>/dev/null | grep -qE "$1"; }

hda_bdf() {
    for d in /sys/bus/pci/devices/*; do
        [ "$(cat $d/class)" = 0x040300 ] && { echo ${d##*/}; return; }
    done
}

# Makes the card assignable and creates the driver domain from the example config; extra
# arguments are xl config overrides.
start_audiovm() {
    local bdf t rc tty
    bdf=$(hda_bdf)
    [ -n "$bdf" ] || { fail "dom0 sees no HDA controller"; return 1; }
    say "HDA controller $bdf"
    xl pci-assignable-add $bdf || { fail "xl pci-assignable-add $bdf"; return 1; }
    t=$(up)
    say "create audiovm"
    xl create /etc/xen/audiovm.cfg "$@" >/tmp/xl-audiovm.log 2>&1
    rc=$?
    AVM=$(xl domid audiovm 2>/dev/null)
    AVM_IDS=$AVM
    say "xl create audiovm returned $rc after $(since $t) s, domid ${AVM:-none}"
    if [ $rc != 0 ] || [ -z "$AVM" ]; then
        cat /tmp/xl-audiovm.log
        fail "xl create audiovm"
        return 1
    fi
    tty=$(xenstore-read /local/domain/$AVM/serial/0/tty 2>/dev/null)
    if [ -n "$tty" ]; then
        stty -F $tty raw -echo 2>/dev/null
        cat $tty >$LOGS/audiovm-serial.log 2>/dev/null &
    fi
}

# Whether audiovm still runs as the domain we started. Xen turns a triple fault into a
# reboot, which xl answers by starting audiovm again under a new domid: report that.
avm_alive() {
    local now
    xenstore-exists /local/domain/$AVM && return 0
    now=$(xl domid audiovm 2>/dev/null)
    if [ -n "$now" ]; then
        fail "audiovm (domain $AVM) rebooted itself, a triple fault?, and runs again as domain $now"
        AVM=$now
        AVM_IDS="$AVM_IDS $now"
    else
        fail "audiovm (domain $AVM) is gone"
    fi
    return 1
}

# Waits up to $2 seconds for audiovm's console to match the regex $1.
wait_avm() {
    local i=0
    while [ $i -lt $(($2 * 2)) ]; do
        avm_says "$1" && return 0
        avm_alive || return 1
        sleep 0.5
        i=$((i + 1))
    done
    return 1
}

avm_crashed() {
    local line
    line=$(avm_console | grep -E 'EXCEPTION|panic' | head -1)
    [ -z "$line" ] || fail "audiovm crashed: ${line#*) }"
}

# The vsnd backend must be watching before a guest is created: libxl's xl create waits
# for it to reach InitWait and gives up after about 10 s.
wait_backend() {
    if wait_avm 'vsnd backend ready' 60; then
        say "audiovm: vsnd backend ready"
    else
        avm_crashed
        fail "audiovm never printed 'vsnd backend ready': the image does not serve vsnd guests (yet)"
        say "creating the guest anyway: expect libxl to give up waiting for the vsnd backend"
    fi
}

# ---- guests -------------------------------------------------------------------------------
# run_guest NAME ACTIONS: creates a guest from the example config; the guest's init runs
# ACTIONS (audiovm.e2e= on its command line, see guest-init.sh). xl create is retried once,
# except when libxl gave up on the vsnd backend, which a retry cannot change.
run_guest() {
    local name=$1 actions=$2 try t rc
    for try in 1 2; do
        t=$(up)
        say "create $name ($actions), try $try"
        xl create /etc/xen/guest.cfg "name=\"$name\"" \
            "extra=\"console=hvc0 quiet loglevel=4 audiovm.e2e=$actions\"" >/tmp/xl-$name.log 2>&1
        rc=$?
        say "xl create $name returned $rc after $(since $t) s"
        [ $rc = 0 ] && return 0
        grep -v -E 'detail|^xc:' /tmp/xl-$name.log | tail -8
        xl destroy $name 2>/dev/null
        if grep -q 'unable to add vsnd devices' /tmp/xl-$name.log; then
            xl list
            fail "xl create $name: libxl gave up waiting for audiovm's vsnd backend (InitWait)"
            return 1
        fi
    done
    fail "xl create $name failed twice"
    return 1
}

domid_of() { xl domid $1 2>/dev/null; }

# Waits up to $2 seconds (default 75) until guest $1 has set data/ready (it has its card).
wait_ready() {
    local id i=0
    id=$(domid_of $1)
    while [ $i -lt $((${2:-75} * 2)) ]; do
        [ "$(xenstore-read /local/domain/$id/data/ready 2>/dev/null)" = 1 ] && return 0
        xenstore-exists /local/domain/$id || break
        sleep 0.5
        i=$((i + 1))
    done
    fail "guest $1 never got its sound card"
    return 1
}

# The host times the delay from this line to the guest's first sample in the recording.
go() {
    say "go $1"
    xenstore-write /local/domain/$(domid_of $1)/data/go 1
}

# Waits up to $2 seconds for guest $1 to power off; polls xenstore, not `xl list`, which is
# unreliable while domains are dying.
wait_gone() {
    local id i=0
    id=$(domid_of $1)
    [ -n "$id" ] || return 0
    while xenstore-exists /local/domain/$id && [ $i -lt $(($2 * 2)) ]; do
        sleep 0.5
        i=$((i + 1))
    done
    xenstore-exists /local/domain/$id && { fail "guest $1 still running after $2 s"; xl destroy $1; }
    return 0
}

# The guest's verdict, from its console: GUEST-DONE ok.
guest_ok() {
    tr -d '\r' <$LOGS/guest-$1.log 2>/dev/null | grep -q '^GUEST-DONE ok' || fail "guest $1 did not finish its steps"
}

# ---- scenarios ----------------------------------------------------------------------------
scenario_card() {
    start_audiovm || return
    # The image plays its chime once the card is up, then says it idles.
    wait_avm 'idle|vsnd backend ready|ERROR|EXCEPTION|panic' 90 || fail "audiovm did not finish starting"
    avm_says 'audiovm[:a-z]*: ready(:|$)' || fail "audiovm did not bring the card up"
    sleep 1
    avm_crashed
    avm_alive
    say "xl list:"
    xl list
    local qemu
    qemu=$(pidof xen-qemu-system-i386)
    [ -n "$qemu" ] && say "qemu-xen for audiovm: $(grep VmRSS /proc/$qemu/status)"
}

scenario_play() {
    start_audiovm || return
    wait_backend
    run_guest guest sync+play:tone-1k || return
    wait_ready guest || return
    go guest
    wait_gone guest 120
    guest_ok guest
}

# Lets guest $1 record, through audiovm's policy subtree in xenstore (watched by audiovm).
allow_capture() {
    xenstore-write /local/domain/$AVM/audiovm/guests/$(domid_of $1)/capture 1
}

scenario_capture() {
    # Only the first guest may record: on the command line (audiovm.capture=<domid>, the
    # domid it will get in a fresh machine) and in xenstore (the domid it got).
    start_audiovm "cmdline=\"audiovm.capture=$AVM_NEXT\"" || return
    wait_backend
    run_guest guest record:2 || return
    allow_capture guest
    wait_gone guest 120
    guest_ok guest
    run_guest guest2 record-denied:1 || return
    local denied
    denied=$(domid_of guest2)
    wait_gone guest2 120
    guest_ok guest2
    # The refusal must be audiovm's policy, not some other failure.
    avm_says "vsnd $denied: capture denied" || fail "audiovm did not log a capture refusal for guest2"
}

scenario_two_guests() {
    start_audiovm || return
    wait_backend
    run_guest guest sync+play:low-440 || return
    run_guest guest2 sync+play:high-1k || return
    wait_ready guest && wait_ready guest2 || return
    go guest
    go guest2
    say "both guests told to play"
    wait_gone guest 120
    wait_gone guest2 60
    guest_ok guest
    guest_ok guest2
}

scenario_crash() {
    start_audiovm || return
    wait_backend
    run_guest guest sync+play:survivor-440 || return
    run_guest guest2 sync+loop:high-1k || return
    wait_ready guest && wait_ready guest2 || return
    go guest
    go guest2
    sleep 4
    if [ -z "$(domid_of guest2)" ]; then
        fail "guest2 stopped by itself before it could be destroyed (its console says why)"
    else
        say "destroy guest2 mid-stream"
        xl destroy guest2 || fail "xl destroy guest2"
    fi
    wait_gone guest 120
    guest_ok guest
    avm_alive || fail "audiovm did not survive the guest's destruction"
}

# The yardstick: a Linux HVM driver domain owning the card through snd-hda-intel (the same
# Debian kernel, busybox and aplay: tests/xen/linux-audio.cfg) plays the tone itself. The host
# reads its start-up time, memory and start-to-sound delay as it does audiovm's.
scenario_linux_audio() {
    local bdf t
    bdf=$(hda_bdf)
    [ -n "$bdf" ] || { fail "dom0 sees no HDA controller"; return; }
    xl pci-assignable-add $bdf || { fail "xl pci-assignable-add $bdf"; return; }
    t=$(up)
    say "create linux-audio"
    xl create /etc/xen/linux-audio.cfg \
        "extra=\"console=hvc0 quiet loglevel=4 audiovm.drivers=snd-hda-codec-generic,snd-hda-intel audiovm.e2e=sync+play:tone-1k\"" \
        >/tmp/xl-linux-audio.log 2>&1 || { cat /tmp/xl-linux-audio.log; fail "xl create linux-audio"; return; }
    say "xl create linux-audio returned after $(since $t) s"
    # A Linux HVM domain boots slowly under this nested emulation: minutes on a busy host.
    wait_ready linux-audio 400 || return
    say "linux-audio: sound card ready $(since $t) s after xl create"
    say "xl list:"
    xl list
    go linux-audio
    wait_gone linux-audio 120
    guest_ok linux-audio
}

# audiovm's domid is 1 in a fresh machine, so the first guest's is 2.
AVM_NEXT=2
case $SCENARIO in
    card) scenario_card ;;
    play) scenario_play ;;
    capture) scenario_capture ;;
    two-guests) scenario_two_guests ;;
    crash) scenario_crash ;;
    linux-audio) scenario_linux_audio ;;
    shell)
        start_audiovm && wait_backend
        echo "audiovm is domain $AVM: xl dmesg shows its log. Start a guest with"
        echo "  xl create -c /etc/xen/guest.cfg"
        exec setsid cttyhack sh ;;
    *) fail "unknown scenario $SCENARIO" ;;
esac

# ---- report -------------------------------------------------------------------------------
# Every domain's memory and CPU time so far.
say "domains at the end:"
xl list
# Pause every domain first, so that no debug-port line lands in the middle of the report
# (pausing is instant; destroying audiovm with its card takes 10 s).
for name in $(xl list 2>/dev/null | awk 'NR > 2 { print $1 }'); do
    xl pause $name 2>/dev/null
done
say "console of audiovm:"
avm_console | sed 's/^/  audiovm| /'
for log in $LOGS/guest-*.log; do
    [ -e "$log" ] || continue
    name=${log#$LOGS/guest-}
    [ "$name" = audiovm.log ] && continue # in audiovm's console above
    say "console of ${name%.log}:"
    tr -d '\r' <$log | sed "s/^/  ${name%.log}| /"
done
for log in /var/log/xen/qemu-dm-*.log; do
    [ -e "$log" ] || continue
    say "$log:"
    tail -20 $log | sed 's/^/  qemu-dm| /'
done
say "RESULT=$RESULT $SCENARIO${REASON:+ ($REASON)}"
poweroff -f
