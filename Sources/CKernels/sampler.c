#include "ckernels.h"
#include <string.h>

// The sampler's passes over a vocabulary row (64000 logits at paper scale, one
// row per token drawn): in Swift with quickselect they took ~1 ms a row, 4-7% of
// a decode step.

// Eight running maxima: one would wait on every compare. The maximum is the same
// in any order (a -0 / +0 tie changes no later difference x - max).
float pk_scale_max(float *x, int n, float s) {
    float m[8];
    for (int q = 0; q < 8; q++) m[q] = -__builtin_inff();
    if (s != 1.0f)
        for (int i = 0; i < n; i++) x[i] *= s;
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int q = 0; q < 8; q++) m[q] = x[i + q] > m[q] ? x[i + q] : m[q];
    for (; i < n; i++) m[0] = x[i] > m[0] ? x[i] : m[0];
    float mx = m[0];
    for (int q = 1; q < 8; q++) mx = m[q] > mx ? m[q] : mx;
    return mx;
}

// Float bits to an unsigned key in the same order (negative floats reversed).
static inline uint32_t order_key(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u & 0x80000000u ? ~u : u | 0x80000000u;
}
static inline float key_float(uint32_t k) {
    uint32_t u = k & 0x80000000u ? k & 0x7FFFFFFFu : ~k;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

// Radix select, most significant digit first (11, 11 and 10 bits): each pass
// counts the digits of the candidates left, finds the digit holding the k-th
// largest, and keeps only the candidates with that digit.
float pk_kth_largest(const float *x, int n, int k, uint32_t *scratch) {
    static const int shift[3] = {21, 10, 0};
    static const uint32_t digits[3] = {2048, 2048, 1024};
    uint32_t count[2048];
    uint32_t prefix = 0;  // the digits fixed so far
    int m = n;
    for (int i = 0; i < n; i++) scratch[i] = order_key(x[i]);
    for (int pass = 0; pass < 3; pass++) {
        int sh = shift[pass];
        memset(count, 0, digits[pass] * sizeof(uint32_t));
        for (int i = 0; i < m; i++) count[(scratch[i] >> sh) & (digits[pass] - 1)]++;
        int d = (int)digits[pass] - 1;
        while ((int)count[d] < k) k -= count[d--];  // from the largest digit down
        prefix |= (uint32_t)d << sh;
        if (pass == 2) break;
        int kept = 0;
        uint32_t mask = ~0u << sh;
        for (int i = 0; i < m; i++)
            if ((scratch[i] & mask) == prefix) scratch[kept++] = scratch[i];
        m = kept;
    }
    return key_float(prefix);
}

int pk_indices_at_least(const float *x, int n, float threshold, int32_t *out) {
    int m = 0;
    for (int i = 0; i < n; i++) {
        out[m] = i;
        m += x[i] >= threshold;
    }
    return m;
}
