// Shared by the AVX-512 kernel files (not part of the module's public header).
#pragma once
#include <immintrin.h>

// The lanes of a 16-wide step at column c that lie below n (none when c >= n).
static inline __mmask16 lanes_below(long n, long c) {
    long v = n - c;
    return v >= 16 ? 0xFFFF : v <= 0 ? 0 : (__mmask16)((1u << v) - 1);
}
