#!/bin/sh
# The Linux guest's /init in the Xen machine of `cargo xtask xen`. It loads xen-snd-front
# (or the drivers in audiovm.drivers=), waits for its sound card, runs the steps in
# audiovm.e2e= (joined with +), prints `GUEST-DONE ok|failed` and powers off. Steps:
#   sync            tell dom0 the card is up (data/ready) and wait for its go (data/go)
#   play:NAME       aplay /root/NAME.wav
#   loop:NAME       aplay /root/NAME.wav again and again (until the domain is destroyed)
#   record:SECONDS  arecord that long; the file must have the expected length
#   record-denied:SECONDS  arecord must be refused (capture not allowed for this guest)
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
export LD_LIBRARY_PATH=/lib/x86_64-linux-gnu
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp

up() { cut -d' ' -f1 /proc/uptime; }
STEPS=
# The sound drivers to load (comma-separated): xen-snd-front in a guest of audiovm,
# snd-hda-intel in the Linux driver domain audiovm is compared with.
DRIVERS=snd-xen-front
for word in $(cat /proc/cmdline); do
    case $word in
        audiovm.e2e=*) STEPS=${word#audiovm.e2e=} ;;
        audiovm.drivers=*) DRIVERS=${word#audiovm.drivers=} ;;
    esac
done
# Started by hand (`xl create -c`): play the tone, then give a shell.
INTERACTIVE=
[ -n "$STEPS" ] || { STEPS=play:tone-1k; INTERACTIVE=1; }
echo "GUEST-START steps=$STEPS uptime=$(up)"
OK=ok
step() { echo "GUEST-STEP $1 $2 at $(up)"; [ "$2" = ok ] || OK=failed; }

for driver in $(echo "$DRIVERS" | tr ',' ' '); do
    modprobe $driver || step "modprobe $driver" failed
done
# ALSA's and the frontend's debug messages (timeouts, xruns) go to dmesg, which a failed run
# prints.
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null &&
    for m in snd_pcm snd_xen_front snd_hda_intel; do
        echo "module $m +p" >/sys/kernel/debug/dynamic_debug/control 2>/dev/null
    done
i=0
while [ $i -lt 120 ] && ! [ -e /dev/snd/pcmC0D0p ]; do
    sleep 0.5
    i=$((i + 1))
done
if [ -e /dev/snd/pcmC0D0p ]; then
    step card ok
    cat /proc/asound/cards /proc/asound/pcm
    # A card with a mixer (snd-hda-intel) starts muted: every control to 0 dB, unmuted.
    amixer scontrols 2>/dev/null | sed "s/^Simple mixer control '\(.*\)',.*/\1/" |
        while read -r control; do
            amixer -q sset "$control" 0dB unmute 2>/dev/null || amixer -q sset "$control" unmute 2>/dev/null
        done
else
    step card failed
    dmesg | grep -iE 'snd|xen' | tail -20
fi

# The PCM device as a player would name it; plughw converts if the backend narrows formats.
DEV=plughw:0,0
for s in $(echo "$STEPS" | tr '+' ' '); do
    [ $OK = ok ] || break
    case $s in
        sync)
            # Blocks on a watch rather than polling, so that dom0's go (the moment the
            # start-to-first-sample delay is measured from) starts the next step at once.
            # The watch fires once when set and once when go is written; it is set before
            # ready is, so the write cannot slip in between.
            xenstore-watch -n 2 data/go >/dev/null 2>&1 &
            watcher=$!
            xenstore-write data/ready 1
            wait $watcher
            while [ "$(xenstore-read data/go 2>/dev/null)" != 1 ]; do sleep 0.1; done
            step sync ok ;;
        play:*)
            # Not quiet: underruns ("underrun!!!") and their recovery show on the console.
            if aplay -D $DEV /root/${s#play:}.wav; then step $s ok; else step $s failed; fi ;;
        loop:*)
            echo "GUEST-STEP $s started at $(up)"
            while aplay -q -D $DEV /root/${s#loop:}.wav; do :; done
            step $s failed ;;
        record:*)
            arecord -q -D $DEV -f S16_LE -r 48000 -c 2 -d ${s#record:} /tmp/rec.wav
            rc=$?
            size=$(wc -c </tmp/rec.wav 2>/dev/null)
            want=$((${s#record:} * 48000 * 4 + 44))
            echo "GUEST recorded rc=$rc bytes=$size (want $want)"
            if [ $rc = 0 ] && [ "$size" = $want ]; then step $s ok; else step $s failed; fi ;;
        record-denied:*)
            arecord -q -D $DEV -f S16_LE -r 48000 -c 2 -d ${s#record-denied:} /tmp/rec.wav 2>/tmp/err
            rc=$?
            echo "GUEST arecord rc=$rc: $(cat /tmp/err)"
            if [ $rc != 0 ]; then step $s ok; else step $s failed; fi ;;
        *) step "$s(unknown)" failed ;;
    esac
done
[ $OK = ok ] || dmesg | tail -25
echo "GUEST-DONE $OK uptime=$(up)"
[ -z "$INTERACTIVE" ] || exec setsid cttyhack sh
poweroff -f
