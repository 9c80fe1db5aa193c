#!/bin/sh
# The Linux guest's /init in the Xen machine of `cargo xtask xen`. It loads xen-snd-front,
# waits for the card audiovm serves, runs the steps in audiovm.e2e= (joined with +), prints
# `GUEST-DONE ok|failed` and powers off. Steps:
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
for word in $(cat /proc/cmdline); do
    case $word in audiovm.e2e=*) STEPS=${word#audiovm.e2e=} ;; esac
done
# Started by hand (`xl create -c`): play the tone, then give a shell.
INTERACTIVE=
[ -n "$STEPS" ] || { STEPS=play:tone-1k; INTERACTIVE=1; }
echo "GUEST-START steps=$STEPS uptime=$(up)"
OK=ok
step() { echo "GUEST-STEP $1 $2 at $(up)"; [ "$2" = ok ] || OK=failed; }

modprobe snd-xen-front || step modprobe failed
i=0
while [ $i -lt 120 ] && ! [ -e /dev/snd/pcmC0D0p ]; do
    sleep 0.5
    i=$((i + 1))
done
if [ -e /dev/snd/pcmC0D0p ]; then
    step card ok
    cat /proc/asound/cards /proc/asound/pcm
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
            xenstore-write data/ready 1
            while [ "$(xenstore-read data/go 2>/dev/null)" != 1 ]; do sleep 0.1; done
            step sync ok ;;
        play:*)
            if aplay -q -D $DEV /root/${s#play:}.wav; then step $s ok; else step $s failed; fi ;;
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
[ $OK = ok ] || dmesg | grep -iE 'snd|sound' | tail -20
echo "GUEST-DONE $OK uptime=$(up)"
[ -z "$INTERACTIVE" ] || exec setsid cttyhack sh
poweroff -f
