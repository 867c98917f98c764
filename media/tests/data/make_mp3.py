#!/usr/bin/env python3
"""Writes tone_1k.mp3: 1.000 s of a 1 kHz sine at half scale, mono, 22.05 kHz, 64 kbit/s CBR.

sox on the development machines cannot write MP3 and neither ffmpeg nor lame are installed,
so this calls libmp3lame (libmp3lame.so.0, present as a library) through ctypes. LAME writes
its Xing/Info header with the encoder delay and padding, so a gapless decoder returns
exactly 22050 samples. (At 32 kbit/s the frames are too small to hold the Info tag, and
LAME silently leaves it out.) Re-run from this folder to regenerate:  python3 make_mp3.py
"""
import ctypes
import math

RATE = 22050
lame = ctypes.CDLL("libmp3lame.so.0")
lame.lame_init.restype = ctypes.c_void_p
gf = ctypes.c_void_p(lame.lame_init())
lame.lame_set_in_samplerate(gf, RATE)
lame.lame_set_out_samplerate(gf, RATE)
lame.lame_set_num_channels(gf, 1)
lame.lame_set_mode(gf, 3)  # MONO
lame.lame_set_brate(gf, 64)
lame.lame_set_quality(gf, 2)
lame.lame_set_bWriteVbrTag(gf, 1)
assert lame.lame_init_params(gf) == 0

pcm = [int(round(0.5 * 32767 * math.sin(2 * math.pi * 1000 * n / RATE))) for n in range(RATE)]
samples = (ctypes.c_short * len(pcm))(*pcm)
out = ctypes.create_string_buffer(len(pcm) * 2 + 7200)
n = lame.lame_encode_buffer(gf, samples, samples, len(pcm), out, len(out))
assert n >= 0
data = out.raw[:n]
tail = ctypes.create_string_buffer(7200)
n = lame.lame_encode_flush(gf, tail, len(tail))
assert n >= 0
data += tail.raw[:n]
with open("tone_1k.mp3", "wb") as f:
    f.write(data)
# LAME fills in the Info frame (the first frame of `data`) once it knows the totals; the
# library writes it through a C FILE*.
libc = ctypes.CDLL("libc.so.6")
libc.fopen.restype = ctypes.c_void_p
fp = ctypes.c_void_p(libc.fopen(b"tone_1k.mp3", b"r+b"))
lame.lame_mp3_tags_fid(gf, fp)
libc.fclose(fp)
lame.lame_close(gf)
print(f"wrote tone_1k.mp3, {len(data)} bytes")
