#!/bin/sh
# Regenerates the shipped IVR prompts in this directory.
#
# The committed WAV files are what ships; this script documents how they were made so a
# prompt can be re-recorded or reworded. Output format, which hotline-media's prompt loader
# requires: 8 kHz, mono, 16-bit signed PCM WAV (RIFF). Keep each prompt under 6 s.
#
# Needs espeak-ng and sox. espeak-ng writes 22.05 kHz speech; sox band-limits and resamples
# it to the 8 kHz telephone rate (with its own anti-alias filter), normalises to -3 dBFS and
# writes 16-bit samples without dither (-D) so a rerun gives the same bytes.
set -eu

cd "$(dirname "$0")"

VOICE=en-us
SPEED=165 # words per minute

# prompt NAME TEXT
prompt() {
    name=$1
    text=$2
    tmp=$(mktemp "${TMPDIR:-/tmp}/hotline-prompt.XXXXXX")
    espeak-ng -v "$VOICE" -s "$SPEED" -w "$tmp" "$text"
    sox "$tmp" -D -r 8000 -c 1 -b 16 -e signed-integer -t wav "$name.wav" \
        highpass 200 lowpass 3400 norm -3
    rm -f "$tmp"
    printf '%s.wav: %s s\n' "$name" "$(soxi -D "$name.wav")"
}

prompt welcome "Welcome to hotline. This is a test of the telephony engine. Goodbye."
